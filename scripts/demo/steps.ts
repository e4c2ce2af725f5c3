/**
 * The four steps of the demo, each with an expectation checked against what really
 * happened. A step returns `{ok, summary}`; it throws only when something it needs is
 * missing (which the demo reports as that step failing, with the reason).
 */
import { formatCounts, type MeshCall } from '../harness/mesh-client';
import { httpRequest } from '../harness/http-client';
import { eventually, sleep } from '../harness/wait';
import type { Dp } from '../harness/mesh';
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
    // Names may hold colons (listener.inbound:127.0.0.1:8080.x); the value follows the last ": ".
    const m = /^(\S+):\s+(\d+)$/.exec(line.trim());
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

/** A cluster as the embedded engine's admin `/clusters` shows it (JSON). */
interface AdminCluster {
  name: string;
  tls?: { sni?: string };
  endpoints?: { address: string; locality?: string }[];
}

/** The engine's clusters (empty when the admin endpoint is unreachable or speaks another format). */
export async function adminClusters(adminPort: number | undefined): Promise<AdminCluster[]> {
  if (!adminPort) return [];
  const r = await httpRequest(`http://127.0.0.1:${adminPort}/clusters`, { timeoutMs: 3000 }).catch(() => undefined);
  return Array.isArray(r?.json) ? (r!.json as AdminCluster[]) : [];
}

function delta(hop: [string, number][], re: RegExp): number {
  return hop.filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v, 0);
}

/** Step 2: users -> billing.mesh, through zone-2's ingress. */
export const stepCrossZone: Step = {
  title: 'users calls http://billing.mesh (zone-2, through its ingress)',
  async run(d, say) {
    const ingress = d.ingress.get('zone-2')!;
    const users = d.sidecars.get('users-1')!;
    const billing = d.sidecars.get('billing-1')!;
    const snap = () => Promise.all([users, ingress, billing].map((x) => adminStats(x.adminPort).catch(() => new Map<string, number>())));
    const before = await snap();
    const vip = await d.users.resolve('billing.mesh', true);
    say(`billing.mesh resolves to ${vip}; billing has no instance in zone-1`);
    const { counts, failures } = await d.users.tally('billing.mesh', 10, '/bill');
    say(`10 calls: ${formatCounts(counts)}`);
    if (failures.length) say(`first failure: ${describe(failures[0])}`);
    const after = await snap();
    const [hopUsers, hopIngress, hopBilling] = after.map((a, i) => grown(before[i], a));
    const usersCluster = (await adminClusters(users.adminPort)).find((c) => c.name === 'billing');
    const ingressClusters = (await adminClusters(ingress.adminPort)).filter((c) => /^billing\{/.test(c.name));
    const routedSni = hopIngress.map(([k]) => /^cluster\.(billing\{[^}]*\})\.upstream_cx_total$/.exec(k)?.[1]).filter((x): x is string => !!x);
    say('trace of the request path (from the engines\' admin /clusters and /stats):');
    say(`  users app      -> ${vip}:${d.mesh.vipPort} (users' sidecar outbound listener for billing)`);
    const eps = (usersCluster?.endpoints ?? []).map((e) => `${e.address}${e.locality ? ` (${e.locality})` : ''}`).join(', ');
    say(`  users sidecar  -> cluster billing, mTLS with SNI ${usersCluster?.tls?.sni ?? '?'}, endpoint ${eps || '?'}; requests +${delta(hopUsers, /^cluster\.billing\.upstream_rq_total$/)}`);
    const ingressEps = ingressClusters.flatMap((c) => (c.endpoints ?? []).map((e) => e.address)).join(', ');
    say(`  zone-2 ingress -> ${ingress.address}:${ingress.port} read SNI ${routedSni.join(', ') || '(none seen)'} and forwarded without terminating TLS to ${ingressEps || '?'}; connections +${delta(hopIngress, /^cluster\.billing\{.*\}\.upstream_cx_total$/)}`);
    say(`  billing sidecar-> inbound ${billing.address}:${billing.port} terminated mTLS (caller spiffe://default/users allowed ${delta(hopBilling, /rbac_allowed$/)}x) -> billing app 127.0.0.1:${d.apps.get('billing-1')?.port}; requests +${delta(hopBilling, /downstream_rq_total$/)}`);
    const isolation = await isolationCheck(d, billing, ingress, say);
    const servedRight = failures.length === 0 && counts.get('billing/zone-2/1') === 10;
    const viaIngress = routedSni.length > 0;
    const ok = servedRight && viaIngress && isolation.ok;
    let summary = `served by billing in zone-2 (10/10) through zone-2's ingress (SNI ${routedSni.join(', ')})`;
    if (!servedRight) summary = `expected every answer from billing/zone-2/1, got ${formatCounts(counts)}`;
    else if (!viaIngress) summary = `answered by billing in zone-2, but zone-2 ingress's admin /stats (port ${ingress.adminPort ?? 'unknown'}) shows no connection for a billing SNI: the hop cannot be traced`;
    else if (!isolation.ok) summary = `answered by billing in zone-2 through its ingress, but the namespaces do not isolate the zones: ${isolation.problem}`;
    return { ok, summary };
  },
};

/**
 * Netns mode only (on loopback every address is reachable from everywhere, so there is
 * nothing to prove): from users' namespace in zone-1, billing's inbound in zone-2 must be
 * unreachable, while zone-2's ingress on the backbone accepts connections.
 */
async function isolationCheck(d: DemoMesh, billing: Dp, ingress: Dp, say: (line: string) => void): Promise<{ ok: boolean; problem?: string }> {
  const from = d.sidecars.get('users-1')?.inNetns?.netns;
  if (!d.mesh.netns || !from) return { ok: true };
  const agent = d.mesh.agent(from);
  const [direct, crossing] = await Promise.all([agent.tryConnect(billing.address, billing.port, 2000), agent.tryConnect(ingress.address, ingress.port, 2000)]);
  say(
    `isolation: from ${from}, a direct connect to billing's inbound ${billing.address}:${billing.port} ${direct.ok ? 'SUCCEEDED' : `fails (${direct.code ?? direct.error}: no route to zone-2's network)`}; ` +
      `zone-2's ingress ${ingress.address}:${ingress.port} ${crossing.ok ? 'accepts it' : `refuses it (${crossing.code ?? crossing.error})`}, and the 10 calls above crossed there`,
  );
  if (direct.ok) return { ok: false, problem: `zone-1 opened a connection straight to billing's inbound ${billing.address}:${billing.port}` };
  if (!crossing.ok) return { ok: false, problem: `zone-1 cannot connect to zone-2's ingress ${ingress.address}:${ingress.port} (${crossing.error})` };
  return { ok: true };
}

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
