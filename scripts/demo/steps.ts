/**
 * The four steps of the demo, each with an expectation checked against what really
 * happened. A step returns `{ok, summary}`; it throws only when something it needs is
 * missing (which the demo reports as that step failing, with the reason).
 */
import { formatCounts, type MeshCall } from '../harness/mesh-client';
import { httpRequest } from '../harness/http-client';
import { eventually, sleep } from '../harness/wait';
import { startService, type DemoMesh } from './demo-mesh';

/** The outcome of one step. */
export interface StepOutcome {
  ok: boolean;
  summary: string;
}

/** A step of the demo. */
export interface Step {
  title: string;
  run(d: DemoMesh, say: (line: string) => void): Promise<StepOutcome>;
}

function describe(c: MeshCall): string {
  if (c.error) return `${c.host} -> ${c.vip || '(unresolved)'}: ${c.error}`;
  return `${c.host} -> ${c.vip}:${'' /* port shown by caller */}HTTP ${c.result?.status} ${c.result?.text.slice(0, 120)}`;
}

/** Counters of an engine's admin `/stats` (Envoy's text form `name: value`). */
export async function adminStats(adminPort: number | undefined): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!adminPort) return out;
  const r = await httpRequest(`http://127.0.0.1:${adminPort}/stats`, { timeoutMs: 3000 });
  if (r.status !== 200) return out;
  for (const line of r.text.split('\n')) {
    const m = /^([^:\s]+):\s*(\d+)\s*$/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** Counters that grew between two snapshots, optionally filtered by a pattern. */
export function grown(before: Map<string, number>, after: Map<string, number>, filter?: RegExp): [string, number][] {
  const out: [string, number][] = [];
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0 && (!filter || filter.test(k))) out.push([k, d]);
  }
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Step 1: users -> invoices.mesh, served in zone-1. */
export const stepSameZone: Step = {
  title: 'users calls http://invoices.mesh (same zone)',
  async run(d, say) {
    const vip = await d.users.resolve('invoices.mesh', true);
    say(`invoices.mesh resolves to ${vip} through users' kuma-dp DNS; calling ${vip}:${d.mesh.vipPort} (invoices' app listens on ${d.apps.get('invoices-1')?.port}, which users never sees)`);
    const first = await d.users.call('invoices.mesh', '/invoices/42');
    say(`first call: ${first.error ? describe(first) : `HTTP ${first.result?.status} ${first.result?.text}`}`);
    const { counts, failures } = await d.users.tally('invoices.mesh', 10);
    say(`10 more calls: ${formatCounts(counts)}`);
    const ok = !first.error && first.servedBy === 'invoices/zone-1/1' && failures.length === 0 && counts.get('invoices/zone-1/1') === 10;
    return { ok, summary: ok ? `served by invoices in zone-1 (11/11)` : `expected every answer from invoices/zone-1/1, got ${formatCounts(counts)}${first.error ? `; first: ${first.error}` : ''}` };
  },
};

/** Step 2: users -> billing.mesh, through zone-2's ingress. */
export const stepCrossZone: Step = {
  title: 'users calls http://billing.mesh (zone-2, through its ingress)',
  async run(d, say) {
    const ingress = d.ingress.get('zone-2')!;
    const users = d.sidecars.get('users-1')!;
    const beforeIngress = await adminStats(ingress.adminPort).catch(() => new Map<string, number>());
    const beforeUsers = await adminStats(users.adminPort).catch(() => new Map<string, number>());
    const vip = await d.users.resolve('billing.mesh', true);
    say(`billing.mesh resolves to ${vip}; billing has no endpoint in zone-1, so users' sidecar sends it to zone-2's ingress (127.0.0.1:${ingress.port}) with SNI billing{mesh=default}`);
    const { counts, failures, calls } = await d.users.tally('billing.mesh', 10, '/bill');
    say(`10 calls: ${formatCounts(counts)}`);
    if (failures.length) say(`first failure: ${describe(failures[0])}`);
    const afterIngress = await adminStats(ingress.adminPort).catch(() => new Map<string, number>());
    const afterUsers = await adminStats(users.adminPort).catch(() => new Map<string, number>());
    const hopUsers = grown(beforeUsers, afterUsers, /billing/);
    const hopIngress = grown(beforeIngress, afterIngress, /billing|sni|ssl|downstream_cx_total|upstream_cx_total/);
    say('trace of the request path:');
    say(`  users app -> users sidecar outbound ${vip}:${d.mesh.vipPort}`);
    for (const [k, v] of hopUsers.slice(0, 6)) say(`    users sidecar   ${k} +${v}`);
    say(`  users sidecar -> zone-2 ingress 127.0.0.1:${ingress.port} (mTLS, SNI passthrough)`);
    for (const [k, v] of hopIngress.slice(0, 8)) say(`    zone-2 ingress  ${k} +${v}`);
    say(`  zone-2 ingress -> billing sidecar 127.0.0.1:${d.sidecars.get('billing-1')?.port} -> billing app :${d.apps.get('billing-1')?.port}`);
    const servedRight = failures.length === 0 && counts.get('billing/zone-2/1') === 10;
    const ingressSaw = hopIngress.length > 0;
    const ok = servedRight && ingressSaw;
    let summary = `served by billing in zone-2 (10/10), zone-2 ingress counters grew`;
    if (!servedRight) summary = `expected every answer from billing/zone-2/1, got ${formatCounts(counts)}`;
    else if (!ingressSaw) summary = `answered by billing in zone-2, but zone-2 ingress's admin /stats (port ${ingress.adminPort ?? 'unknown'}) shows no traffic: the hop cannot be traced`;
    void calls;
    return { ok, summary };
  },
};

/** The TrafficRoute of step 3: billing split 50/50 by kuma.io/zone. */
export const BILLING_SPLIT = {
  type: 'TrafficRoute',
  mesh: 'default',
  name: 'billing-by-zone',
  sources: [{ match: { 'kuma.io/service': '*' } }],
  destinations: [{ match: { 'kuma.io/service': 'billing' } }],
  conf: {
    split: [
      { weight: 50, destination: { 'kuma.io/service': 'billing', 'kuma.io/zone': 'zone-1' } },
      { weight: 50, destination: { 'kuma.io/service': 'billing', 'kuma.io/zone': 'zone-2' } },
    ],
  },
};

/** Step 3: a second billing in zone-1, 50/50 by zone from a TrafficRoute on global. */
export const stepSplit: Step = {
  title: 'billing in both zones, TrafficRoute on global splits 50/50 by kuma.io/zone',
  async run(d, say) {
    await startService(d.mesh, d, 'zone-1', 'billing', '2');
    say('billing-2 started in zone-1');
    await d.mesh.apply(d.mesh.global!, BILLING_SPLIT);
    await d.mesh.waitSynced(BILLING_SPLIT);
    say('TrafficRoute billing-by-zone applied on global and synced to both zones');
    // The new route and endpoint reach users' sidecar through xDS; wait until both zones answer.
    await eventually(
      'answers from billing in both zones',
      async () => {
        const { counts } = await d.users.tally('billing.mesh', 10, '/', 3000);
        return counts.has('billing/zone-1/2') && counts.has('billing/zone-2/1');
      },
      20_000,
      300,
    ).catch((err) => say(`(${(err as Error).message})`));
    const { counts, failures } = await d.users.tally('billing.mesh', 100, '/split');
    const z1 = counts.get('billing/zone-1/2') ?? 0;
    const z2 = counts.get('billing/zone-2/1') ?? 0;
    say(`100 calls: zone-1 ${z1}, zone-2 ${z2}${failures.length ? `, failed ${failures.length}` : ''}  [${formatCounts(counts)}]`);
    // 50/50 over 100 weighted-random picks: ±15 is beyond 3 standard deviations (σ = 5).
    const ok = failures.length === 0 && z1 + z2 === 100 && Math.abs(z1 - 50) <= 15;
    return { ok, summary: ok ? `split zone-1 ${z1} / zone-2 ${z2} (expected 50/50 ±15)` : `expected 50/50 ±15 with no failures, got zone-1 ${z1}, zone-2 ${z2}, failed ${failures.length}` };
  },
};

/** Step 4: global stops, traffic continues, global restarts and the zones reconnect. */
export const stepGlobalDown: Step = {
  title: 'global CP stops: calls keep succeeding; it restarts and the zones reconnect',
  async run(d, say) {
    const global = d.mesh.global!;
    await d.mesh.stopCp(global);
    say(`global CP stopped (pid ${global.proc.pid}, exit ${JSON.stringify(global.proc.exit)})`);
    let failed = 0;
    let total = 0;
    for (let round = 0; round < 5; round++) {
      for (const host of ['invoices.mesh', 'billing.mesh']) {
        const { failures, calls } = await d.users.tally(host, 4);
        failed += failures.length;
        total += calls.length;
      }
      await sleep(300);
    }
    say(`with global down: ${total - failed}/${total} calls to invoices.mesh and billing.mesh succeeded`);
    await d.mesh.restartCp(global);
    say(`global CP restarted on the same ports (API ${global.api})`);
    const t0 = Date.now();
    await d.mesh.waitZoneOnline('zone-1', true, 30_000);
    await d.mesh.waitZoneOnline('zone-2', true, 30_000);
    say(`both zones online again after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const after = await d.users.tally('billing.mesh', 10);
    say(`after the restart: ${formatCounts(after.counts)}`);
    const ok = failed === 0 && after.failures.length === 0;
    return { ok, summary: ok ? `${total}/${total} calls succeeded while global was down; zones reconnected` : `${failed}/${total} calls failed while global was down, ${after.failures.length}/10 after its restart` };
  },
};

/** The demo's steps, in order. */
export const STEPS: Step[] = [stepSameZone, stepCrossZone, stepSplit, stepGlobalDown];
