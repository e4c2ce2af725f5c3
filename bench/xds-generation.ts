/**
 * xDS generation cost in-process: N dataplanes of one mesh (S services, O outbounds
 * each, TCP, mTLS off so the CA's RSA key generation does not dominate), all registered
 * with the reconciler. Measures a mesh-wide regeneration (what a TrafficRoute change
 * costs) and the connect storm (N registrations at once), against the naive path of
 * the same generators without the per-regeneration encoding cache, in the same run.
 *
 * With --mtls=1 the mesh has a builtin CA and every proxy gets an identity certificate
 * (RSA 2048 from cp/ca): the connect storm then measures issuance too.
 *
 * Usage: node dist/bench/xds-generation.js [--dataplanes=1000] [--services=500] [--outbounds=3] [--rounds=3] [--mtls=0|1]
 */
import { performance } from 'node:perf_hooks';
import { silentLogger } from '../lib/logger';
import { MemoryStore } from '../cp/store/memory-store';
import { SnapshotCache } from '../cp/xds/cache/snapshot-cache';
import { Snapshot } from '../cp/xds/cache/snapshot';
import { XdsReconciler } from '../cp/xds/server/reconciler';
import { buildMeshSnapshots } from '../cp/xds/generators/mesh-snapshot';
import { buildProxyContext } from '../cp/xds/generators/proxy-context';
import { generateResources } from '../cp/xds/generators/profiles';
import { defaultPolicies } from '../cp/xds/server/default-policies';
import { BuiltinCaManager } from '../cp/ca/builtin-ca-manager';
import { parseArgs } from './harness/args';
import { median, round } from './harness/stats';
import { printTable, writeResults, type Table } from './harness/results';
import { runContext } from './harness/run-context';

async function main(): Promise<void> {
  const p = parseArgs(process.argv.slice(2), { dataplanes: 1000, services: 500, outbounds: 3, rounds: 3, mtls: 0 });
  const before = runContext();
  const store = new MemoryStore();
  await store.create({ type: 'Mesh', name: 'default', spec: p.mtls ? { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } } : {} });
  for (const r of defaultPolicies('default')) await store.create(r);
  for (let i = 0; i < p.dataplanes; i++) {
    const outbound = Array.from({ length: p.outbounds }, (_, k) => ({ port: 10000 + k, tags: { 'kuma.io/service': `svc-${(i + k + 1) % p.services}` } }));
    await store.create({ type: 'Dataplane', mesh: 'default', name: `dp-${i}`, spec: { networking: { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, inbound: [{ port: 8080, servicePort: 9080, tags: { 'kuma.io/service': `svc-${i % p.services}` } }], outbound } } });
  }
  const cache = new SnapshotCache();
  const ca = p.mtls ? new BuiltinCaManager({ store }) : undefined;
  if (ca) await ca.ensureCa('default', 'ca-1');
  const r = new XdsReconciler({ store, cache, cp: { zone: '', vipPort: 80 }, log: silentLogger(), debounceMs: 10, ca });
  await r.start();
  const ids = Array.from({ length: p.dataplanes }, (_, i) => `default.dp-${i}`);
  const t0 = performance.now();
  await Promise.all(ids.map((id) => r.register(id, { kind: 'dataplane', mesh: 'default', name: id.slice(8), dnsEnabled: false })));
  const connectStormMs = performance.now() - t0;
  const regenerations = r.generations;

  const cached: number[] = [];
  const naive: number[] = [];
  for (let round_ = 0; round_ < p.rounds; round_++) {
    const a = performance.now();
    await r.flush();
    cached.push(performance.now() - a);
    // The naive path: same generators, one store read, no encoding cache.
    const b = performance.now();
    const contents = {
      meshes: await store.list('Mesh'),
      dataplanes: await store.list('Dataplane'),
      zoneIngresses: [],
      trafficRoutes: await store.list('TrafficRoute'),
      trafficPermissions: await store.list('TrafficPermission'),
      vips: {},
    };
    const meshes = buildMeshSnapshots(contents, '');
    for (const dp of contents.dataplanes) {
      Snapshot.fromResourceSet(generateResources(buildProxyContext(meshes, { kind: 'dataplane', mesh: 'default', name: dp.meta.name, resource: dp, dnsEnabled: false }, { zone: '', vipPort: 80 })));
    }
    naive.push(performance.now() - b);
  }
  await r.close();
  const after = runContext();
  const tables: Table[] = [
    {
      title: `xDS generation: ${p.dataplanes} dataplanes, ${p.services} services, ${p.outbounds} outbounds each (median of ${p.rounds})`,
      columns: ['path', 'mesh-wide regeneration (ms)', 'per dataplane (ms)'],
      rows: [
        ['reconciler (batched, memoized endpoints, encoding cache)', round(median(cached)), Math.round((median(cached) / p.dataplanes) * 1000) / 1000],
        ['naive (same generators, no encoding cache)', round(median(naive)), Math.round((median(naive) / p.dataplanes) * 1000) / 1000],
      ],
    },
    {
      title: 'Connect storm',
      columns: ['metric', 'value'],
      rows: [
        [`${p.dataplanes} concurrent registrations until every snapshot is set (ms)`, round(connectStormMs)],
        ['regenerations they took', regenerations],
      ],
    },
  ];
  for (const t of tables) printTable(t);
  const files = writeResults({
    bench: p.mtls ? 'xds-generation-mtls' : 'xds-generation',
    params: p,
    data: { cachedMs: cached, naiveMs: naive, connectStormMs, regenerations },
    tables,
    verdicts: [],
    notes: [`mTLS ${p.mtls ? 'on: identities issued during the connect storm' : 'off'}.`, 'In-process (no gRPC): generation, encoding with Envoy protos and snapshotting only; delivery is measured by bench/ads-load.', 'mTLS off: with mTLS each proxy also gets an RSA identity certificate from the CA, a separate cost.'],
    context: { before, after },
  });
  console.log(`\nresults: ${files.json}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
