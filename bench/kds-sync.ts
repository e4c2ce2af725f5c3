/**
 * KDS throughput and latency: one in-process global (KDS over TLS on 127.0.0.1) and
 * N zone clients, each with its own memory store. Measures
 *   1. initial upload: every zone registers D dataplanes; time until global holds all;
 *   2. fan-out: one policy written on global; time until every zone has it;
 *   3. cross-zone: one dataplane added in zone 0; time until every other zone sees
 *      zone 0's ingress count it.
 * Prints a table and writes bench/results/kds-sync-<timestamp>.json.
 * Usage: node dist/bench/kds-sync.js [zones=5] [dataplanesPerZone=200]
 */
import fs from 'node:fs';
import path from 'node:path';
import { AuthError } from '../lib/errors';
import { silentLogger } from '../lib/logger';
import { MemoryStore } from '../cp/store/memory-store';
import { KdsServer } from '../cp/kds/kds-server';
import { KdsZoneClient } from '../cp/kds/kds-client';
import { ZoneInsights } from '../cp/zones/zone-insights';
import { IngressUpdater } from '../cp/ingress/ingress-updater';
import { generateDpServerCerts } from '../cp/dp-server/tls-material';
import { globalName } from '../cp/kds/global-names';
import { normaliseForZone } from '../cp/kds/write-guards';
import type { ResourceInput } from '../api/resource';

async function until(fn: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = process.hrtime.bigint();
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function dp(zone: string, i: number): ResourceInput {
  const input: ResourceInput = {
    type: 'Dataplane',
    mesh: 'default',
    name: `svc-${i}`,
    spec: { networking: { address: '127.0.0.1', inbound: [{ port: 10000 + (i % 50000), tags: { 'kuma.io/service': `svc-${i % 20}` } }] } },
  };
  normaliseForZone(zone, input);
  return input;
}

async function main(): Promise<void> {
  const zonesN = Number(process.argv[2] ?? 5);
  const perZone = Number(process.argv[3] ?? 200);
  const tls = generateDpServerCerts(['localhost', '127.0.0.1']);
  const log = silentLogger();
  const gstore = new MemoryStore();
  await gstore.create({ type: 'Mesh', name: 'default', spec: {} });
  const server = new KdsServer({
    store: gstore,
    log,
    insights: new ZoneInsights(),
    host: '127.0.0.1',
    port: 0,
    tls,
    authenticate: async (zone, token) => {
      if (token !== `t-${zone}`) throw new AuthError('bad token');
    },
  });
  await server.start();
  const zones = [] as { name: string; store: MemoryStore; client: KdsZoneClient; updater: IngressUpdater }[];
  for (let z = 0; z < zonesN; z++) {
    const name = `zone-${z}`;
    const store = new MemoryStore();
    await store.create({ type: 'ZoneIngress', name: 'ingress', spec: { zone: name, networking: { address: '127.0.0.1', advertisedAddress: '127.0.0.1', port: 10001, advertisedPort: 10001 } } });
    const client = new KdsZoneClient({ store, log, zone: name, globalAddress: `grpcs://127.0.0.1:${server.port}`, rootCaPem: tls.caPem, token: () => `t-${name}` });
    const updater = new IngressUpdater({ store, log, zone: name });
    await updater.start();
    await client.start();
    zones.push({ name, store, client, updater });
  }
  await until(async () => zones.every((z) => z.client.connected), 10_000);

  const total = zonesN * perZone;
  const upload = await (async () => {
    const writes = zones.map(async (z) => {
      for (let i = 0; i < perZone; i++) await z.store.create(dp(z.name, i));
    });
    const t0 = process.hrtime.bigint();
    await Promise.all(writes);
    await until(async () => (await gstore.list('Dataplane')).length === total, 60_000);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  })();

  await gstore.create({ type: 'TrafficPermission', mesh: 'default', name: 'bench', spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }] } });
  const fanout = await until(async () => {
    for (const z of zones) if (!(await z.store.get('TrafficPermission', { mesh: 'default', name: 'bench' }))) return false;
    return true;
  }, 30_000);

  const z0 = zones[0];
  await z0.store.create({ ...dp(z0.name, 999_999), name: 'new-one', spec: { networking: { address: '127.0.0.1', inbound: [{ port: 9999, tags: { 'kuma.io/service': 'brand-new', 'kuma.io/zone': z0.name } }] } } });
  const ingressName = globalName('ingress', z0.name);
  const cross = zonesN < 2 ? 0 : await until(async () => {
    for (const z of zones.slice(1)) {
      const ing = await z.store.get('ZoneIngress', { name: ingressName });
      if (!ing?.spec.availableServices?.some((s: any) => s.tags['kuma.io/service'] === 'brand-new')) return false;
    }
    return true;
  }, 30_000);

  const rows = [
    ['initial upload', `${zonesN} zones x ${perZone} dataplanes`, upload.toFixed(0), ((total / upload) * 1000).toFixed(0)],
    ['policy fan-out', `1 policy to ${zonesN} zones`, fanout.toFixed(0), ''],
    ['cross-zone', `zone-0 dataplane -> ${zonesN - 1} zones' view of zone-0 ingress`, cross.toFixed(0), ''],
  ];
  console.log('| measurement | workload | ms | resources/s |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  const out = path.resolve(__dirname, '../../bench/results');
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, `kds-sync-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ bench: 'kds-sync', zones: zonesN, dataplanesPerZone: perZone, uploadMs: upload, fanoutMs: fanout, crossZoneMs: cross, node: process.version }, null, 2) + '\n');
  console.log(`results: ${path.relative(process.cwd(), file)}`);

  for (const z of zones) {
    await z.client.close();
    await z.updater.close();
  }
  await server.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
