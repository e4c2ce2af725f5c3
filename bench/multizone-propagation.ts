/**
 * Multi-zone propagation (issue 6) on real processes: one global `kuma-cp run`, Z zone
 * CPs (each with N registered dataplanes and a running ZoneIngress — `kuma-dp
 * --proxy-type=ingress` on the embedded engine), all on loopback, KDS over TLS with zone
 * tokens (scripts/harness/mesh.ts). Measures
 *   1. global -> zones: a TrafficPermission PUT on global until each zone's REST API
 *      returns it (per zone, and until the last zone has it);
 *   2. zone -> zone: a Dataplane of a new service PUT on zone A until every other zone
 *      lists that service in zone A's ZoneIngress `availableServices` (what its proxies
 *      route cross-zone traffic by).
 * Latencies are observed by polling each zone's REST API every 10 ms, so they include
 * up to 10 ms of polling delay. There is no peer here: Kuma's own CP cannot be installed
 * on this machine, so the numbers stand alone against the expectations.
 *
 * Usage: node dist/bench/multizone-propagation.js [--zones=3] [--dataplanes=200] [--samples=20]
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MeshHarness, type Cp } from '../scripts/harness/mesh';
import { summary, round } from './harness/stats';
import { runContext } from './harness/run-context';
import { printTable, writeResults, type Table } from './harness/results';
import { parseArgs } from './harness/args';
import { httpJson, sleep } from './harness/standalone-cp';

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Polls `fn` every 10 ms; resolves with ms since t0 when it holds (bounded). */
async function observed(t0: number, fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return nowMs() - t0;
    if (Date.now() > deadline) throw new Error(`not observed within ${timeoutMs} ms: ${what}`);
    await sleep(10);
  }
}

function dataplane(zone: string, name: string, service: string, port: number): Record<string, any> {
  return { type: 'Dataplane', mesh: 'default', name, networking: { address: '127.0.0.1', inbound: [{ port, servicePort: port + 1, tags: { 'kuma.io/service': service, 'kuma.io/protocol': 'http' } }] } };
}

/** True when `zone`'s API lists a ZoneIngress of `fromZone` that offers `service`. */
async function ingressOffers(zone: Cp, fromZone: string, service: string): Promise<boolean> {
  const r = await httpJson(`${zone.api}/zoneingresses`, 'GET', undefined, { timeoutMs: 2000 });
  if (r.status !== 200) return false;
  const items: any[] = JSON.parse(r.text).items ?? [];
  return items.some((i) => (i.zone === fromZone || String(i.name).includes(fromZone)) && (i.availableServices ?? []).some((s: any) => s.tags?.['kuma.io/service'] === service));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { zones: 3, dataplanes: 200, samples: 20 });
  const before = runContext();
  const mesh = new MeshHarness({ prefix: 'bench-multizone-', storeType: 'memory', say: (l) => console.log(`  ${l}`) });
  mesh.installExitHooks();
  const zoneNames = Array.from({ length: args.zones }, (_, i) => `zone-${i + 1}`);
  const policy: number[] = [];
  const policyAll: number[] = [];
  const cross: number[] = [];
  const crossAll: number[] = [];
  let setupMs = 0;
  try {
    const s0 = performance.now();
    const g = await mesh.startGlobal();
    for (const z of zoneNames) await mesh.startZone(z);
    for (const z of zoneNames) await mesh.waitZoneOnline(z);
    for (const z of zoneNames) await mesh.startIngress(z);
    // N dataplanes per zone (registered, not running: the CPs and KDS carry them all the same).
    for (const [zi, z] of zoneNames.entries()) {
      const cp = mesh.zoneCp(z);
      for (let i = 0; i < args.dataplanes; i += 8) {
        await Promise.all(
          Array.from({ length: Math.min(8, args.dataplanes - i) }, (_, k) => mesh.apply(cp, dataplane(z, `${z}-dp-${i + k}`, `svc-${(i + k) % 50}`, 20000 + zi * 1000 + ((i + k) % 1000) * 2))),
        );
      }
    }
    // Settled: global sees every zone's dataplanes.
    const total = args.zones * args.dataplanes;
    await observed(nowMs(), async () => JSON.parse((await httpJson(`${g.api}/meshes/default/dataplanes?size=1`)).text).total >= total, 120_000, `global holds ${total} dataplanes`);
    setupMs = performance.now() - s0;
    console.log(`setup: global + ${args.zones} zones + ingresses, ${total} dataplanes synced to global in ${Math.round(setupMs)} ms`);

    for (let k = 0; k < args.samples; k++) {
      const tp = { type: 'TrafficPermission', mesh: 'default', name: `bench-tp-${k}`, sources: [{ match: { 'kuma.io/service': `svc-${k % 50}` } }], destinations: [{ match: { 'kuma.io/service': '*' } }] };
      const t0 = nowMs();
      await mesh.apply(g, tp);
      const per = await Promise.all(
        zoneNames.map((z) => observed(t0, async () => (await httpJson(`${mesh.zoneCp(z).api}/meshes/default/traffic-permissions/${tp.name}`, 'GET', undefined, { timeoutMs: 2000 })).status === 200, 30_000, `${tp.name} in ${z}`)),
      );
      policy.push(...per);
      policyAll.push(Math.max(...per));
    }
    console.log(`global -> zones: p50 ${round(summary(policy).p50)} ms, p99 ${round(summary(policy).p99)} ms`);

    for (let k = 0; k < args.samples; k++) {
      const from = zoneNames[k % zoneNames.length];
      const service = `xz-svc-${k}`;
      const others = zoneNames.filter((z) => z !== from);
      const t0 = nowMs();
      await mesh.apply(mesh.zoneCp(from), dataplane(from, `${from}-xz-${k}`, service, 30000 + k * 2));
      const per = await Promise.all(others.map((z) => observed(t0, () => ingressOffers(mesh.zoneCp(z), from, service), 60_000, `${service} of ${from} in ${z}'s view`)));
      cross.push(...per);
      crossAll.push(Math.max(...per));
    }
    console.log(`zone -> zone: p50 ${round(summary(cross).p50)} ms, p99 ${round(summary(cross).p99)} ms`);
  } finally {
    await mesh.stopAll();
  }

  const P = summary(policy);
  const PA = summary(policyAll);
  const C = summary(cross);
  const CA = summary(crossAll);
  const table: Table = {
    title: `Multi-zone propagation: global + ${args.zones} zones (kuma-cp processes, KDS over TLS), ${args.dataplanes} dataplanes per zone, ${args.samples} samples each`,
    columns: ['what', 'observations', 'p50 (ms)', 'p90 (ms)', 'p99 (ms)', 'max (ms)'],
    rows: [
      ['policy on global -> visible in one zone', P.n, round(P.p50), round(P.p90), round(P.p99), round(P.max)],
      ['policy on global -> visible in every zone', PA.n, round(PA.p50), round(PA.p90), round(PA.p99), round(PA.max)],
      ['new dataplane in zone A -> in zone A ingress availableServices seen by one other zone', C.n, round(C.p50), round(C.p90), round(C.p99), round(C.max)],
      ['new dataplane in zone A -> seen by every other zone', CA.n, round(CA.p50), round(CA.p90), round(CA.p99), round(CA.max)],
    ],
  };
  printTable(table);
  const files = writeResults({
    bench: 'multizone-propagation',
    params: { zones: args.zones, dataplanesPerZone: args.dataplanes, samples: args.samples, store: 'memory', pollMs: 10 },
    data: { setupMs, policyMs: policy, policyAllZonesMs: policyAll, crossZoneMs: cross, crossZoneAllMs: crossAll },
    tables: [table],
    verdicts: [],
    notes: [
      'Every CP is a `kuma-cp run` process (memory store) started by scripts/harness/mesh.ts; each zone runs one ZoneIngress as `kuma-dp run --proxy-type=ingress --engine=embedded`. Dataplanes are registered through the zone REST API and not running (KDS carries resources, not traffic).',
      'Observed by polling REST every 10 ms (adds up to 10 ms). A sample starts just before the PUT is sent.',
      'No peer: Kuma itself cannot be installed here; compare with the in-process bench/kds-sync (another helper) for KDS alone without process and REST overhead.',
      'Processes are not pinned: global, zones, ingresses and this process share the 2 cores.',
    ],
    context: { before, after: runContext() },
  });
  console.log(`results: ${path.relative(process.cwd(), files.json)}, ${path.relative(process.cwd(), files.md)}`);
}

main().catch((err) => {
  console.error(`multizone-propagation: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
