/**
 * Multi-zone end to end, in the spirit of Kuma's multizone e2e suites, with real
 * processes: global, zone-1 and zone-2 kuma-cps, an ingress per zone, and apps behind
 * kuma-dp sidecars on the embedded engine (the demo topology, set up once and shared by
 * every scenario; scenarios that break things run last). Scenarios: connectivity by
 * `.mesh` names in and across zones; TrafficRoute (80/20 across zones, 100% reroute,
 * HTTP path routing); zone disable; TrafficPermission by caller zone; health (an
 * instance whose app is down is ejected by the caller's outlier detection); sync of a policy
 * created and updated on global, refused in a zone; SIGKILL of a zone CP (traffic
 * continues, offline within 30 s, online after restart); SIGKILL of global (no request
 * fails, zones reconnect).
 */
import t from 'tap';
import { freePort } from '../../../lib/free-port';
import { httpRequest } from '../../../scripts/harness/http-client';
import { resourcePath } from '../../../scripts/harness/mesh';
import { formatCounts } from '../../../scripts/harness/mesh-client';
import { eventually } from '../../../scripts/harness/wait';
import { startService } from '../../../scripts/demo/demo-mesh';
import { adminStats, grown } from '../../../scripts/demo/steps';
import { applyOnGlobal, converge, deleteOnGlobal, startMeshForTest } from './mesh-fixture';

const all = [{ match: { 'kuma.io/service': '*' } }];

// One shared mesh of ~15 processes on a 2-core machine: set-up alone can take 30-40 s under load.
t.setTimeout(170_000);

t.test('multi-zone mesh with real processes', async (t) => {
  const d = await startMeshForTest(t, 'kuma-e2e-mesh-');
  // A zone-2 caller without DNS: its explicit outbound 127.0.0.1:<port> -> invoices (in zone-1).
  const webOutbound = await freePort();
  const webApp = await d.mesh.startApp('web', 'zone-2', '1');
  await d.mesh.startSidecar({ zone: 'zone-2', name: 'web-1', service: 'web', appPort: webApp.port, outbound: [{ port: webOutbound, service: 'invoices' }] });
  const fromZone2 = (p = '/') => httpRequest(`http://127.0.0.1:${webOutbound}${p}`, { timeoutMs: 3000 }).catch((err: Error) => ({ status: 0, text: err.message, headers: {} as Record<string, unknown>, json: undefined }));

  await t.test('connectivity: same zone and cross zone by .mesh names', async (t) => {
    const vip = await d.users.resolve('invoices.mesh', true);
    t.match(vip, /^127\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./, 'invoices.mesh resolves to a VIP in 127.64.0.0/10');
    const same = await d.users.tally('invoices.mesh', 10);
    t.same([...same.counts], [['invoices/zone-1/1', 10]], `same zone: ${formatCounts(same.counts)}`);
    const cross = await d.users.tally('billing.mesh', 10);
    t.same([...cross.counts], [['billing/zone-2/1', 10]], `zone-1 -> zone-2: ${formatCounts(cross.counts)}`);
    await eventually('zone-2 caller reaches invoices in zone-1', async () => (await fromZone2()).status === 200, 15_000);
    let ok = 0;
    for (let i = 0; i < 5; i++) if ((await fromZone2()).status === 200) ok++;
    t.equal(ok, 5, 'zone-2 -> zone-1 through zone-1 ingress (explicit outbound)');
  });

  await startService(d.mesh, d, 'zone-1', 'billing', '2');

  await t.test('TrafficRoute: 80/20 across zones over 200 requests', async (t) => {
    const route = {
      type: 'TrafficRoute',
      mesh: 'default',
      name: 'billing-80-20',
      sources: all,
      destinations: [{ match: { 'kuma.io/service': 'billing' } }],
      conf: {
        split: [
          { weight: 80, destination: { 'kuma.io/service': 'billing', 'kuma.io/zone': 'zone-1' } },
          { weight: 20, destination: { 'kuma.io/service': 'billing', 'kuma.io/zone': 'zone-2' } },
        ],
      },
    };
    await applyOnGlobal(d, route);
    await converge(d, 'billing.mesh', 'answers from both zones', (c) => c.has('billing/zone-1/2') && c.has('billing/zone-2/1'), 20);
    const { counts, failures } = await d.users.tally('billing.mesh', 200);
    t.equal(failures.length, 0, 'no request failed');
    const z1 = counts.get('billing/zone-1/2') ?? 0;
    t.ok(Math.abs(z1 - 160) <= 20, `zone-1 got ${z1}/200 (expected 160 ±20): ${formatCounts(counts)}`);
    await deleteOnGlobal(d, route);
  });

  await t.test('TrafficRoute: 100% of invoices rerouted to billing', async (t) => {
    const route = {
      type: 'TrafficRoute',
      mesh: 'default',
      name: 'invoices-to-billing',
      sources: all,
      destinations: [{ match: { 'kuma.io/service': 'invoices' } }],
      conf: { destination: { 'kuma.io/service': 'billing', 'kuma.io/zone': 'zone-1' } },
    };
    await applyOnGlobal(d, route);
    await converge(d, 'invoices.mesh', 'invoices.mesh answered by billing', (c) => c.get('billing/zone-1/2') === 10);
    const { counts } = await d.users.tally('invoices.mesh', 20);
    t.same([...counts], [['billing/zone-1/2', 20]], formatCounts(counts));
    await deleteOnGlobal(d, route);
    await converge(d, 'invoices.mesh', 'invoices.mesh back to invoices', (c) => c.get('invoices/zone-1/1') === 10);
  });

  await t.test('TrafficRoute: HTTP path-based routing', async (t) => {
    const route = {
      type: 'TrafficRoute',
      mesh: 'default',
      name: 'invoices-pay-path',
      sources: all,
      destinations: [{ match: { 'kuma.io/service': 'invoices' } }],
      conf: {
        destination: { 'kuma.io/service': 'invoices' },
        http: [{ match: { path: { prefix: '/pay' } }, destination: { 'kuma.io/service': 'billing', 'kuma.io/zone': 'zone-1' } }],
      },
    };
    await applyOnGlobal(d, route);
    await converge(d, 'invoices.mesh', '/pay routed to billing', (c) => c.get('billing/zone-1/2') === 5, 5, '/pay/now');
    const pay = await d.users.tally('invoices.mesh', 10, '/pay/now');
    const other = await d.users.tally('invoices.mesh', 10, '/invoices/1');
    t.same([...pay.counts], [['billing/zone-1/2', 10]], `/pay/now -> ${formatCounts(pay.counts)}`);
    t.same([...other.counts], [['invoices/zone-1/1', 10]], `/invoices/1 -> ${formatCounts(other.counts)}`);
    await deleteOnGlobal(d, route);
  });

  await t.test('zone disable: zone-1 stops routing to a disabled zone-2', async (t) => {
    await converge(d, 'billing.mesh', 'both billing instances in use', (c) => c.has('billing/zone-1/2') && c.has('billing/zone-2/1'), 20);
    const g = d.mesh.global!;
    const zone = (await d.mesh.api(g, 'GET', '/zones/zone-2')).json;
    t.equal(zone?.name, 'zone-2', 'global holds Zone zone-2');
    const put = await d.mesh.api(g, 'PUT', '/zones/zone-2', { ...zone, enabled: false });
    t.ok(put.status === 200 || put.status === 201, `PUT enabled:false: ${put.status}`);
    await converge(d, 'billing.mesh', 'only zone-1 billing answers', (c) => c.get('billing/zone-1/2') === 20, 20, '/', 30_000);
    const { counts } = await d.users.tally('billing.mesh', 40);
    t.same([...counts], [['billing/zone-1/2', 40]], `with zone-2 disabled: ${formatCounts(counts)}`);
    await d.mesh.api(g, 'PUT', '/zones/zone-2', { ...zone, enabled: true });
    await converge(d, 'billing.mesh', 'zone-2 back in use', (c) => c.has('billing/zone-2/1'), 20, '/', 30_000);
    t.pass('zone-2 serves again after enabled: true');
  });
  await t.test('TrafficPermission: only zone-1 callers may reach invoices', async (t) => {
    const allowAll = { type: 'TrafficPermission', mesh: 'default', name: 'allow-all-default', sources: all, destinations: all };
    const zone1Only = {
      type: 'TrafficPermission',
      mesh: 'default',
      name: 'invoices-from-zone-1',
      sources: [{ match: { 'kuma.io/service': '*', 'kuma.io/zone': 'zone-1' } }],
      destinations: [{ match: { 'kuma.io/service': 'invoices' } }],
    };
    await applyOnGlobal(d, zone1Only);
    await deleteOnGlobal(d, allowAll);
    await eventually('zone-2 caller refused', async () => (await fromZone2()).status !== 200, 20_000, 300);
    const refused = await fromZone2();
    t.not(refused.status, 200, `zone-2 caller refused (status ${refused.status})`);
    const allowed = await d.users.tally('invoices.mesh', 10);
    t.same([...allowed.counts], [['invoices/zone-1/1', 10]], `zone-1 caller still allowed: ${formatCounts(allowed.counts)}`);
    await applyOnGlobal(d, allowAll);
    await deleteOnGlobal(d, zone1Only);
    await eventually('zone-2 caller allowed again', async () => (await fromZone2()).status === 200, 20_000, 300);
  });

  // The resilience scenarios below need billing only in zone-2 (every billing call crosses zones).
  await d.mesh.stopProcess(d.sidecars.get('billing-2')!.proc);
  await d.mesh.stopProcess(d.apps.get('billing-2')!.proc);
  // Settle: every call answered again (connections refused by RBAC above are gone).
  await converge(d, 'billing.mesh', 'billing only in zone-2, every call answered', (c) => c.get('billing/zone-2/1') === 10, 10, '/', 30_000);
  await converge(d, 'invoices.mesh', 'invoices answering every call', (c) => c.get('invoices/zone-1/1') === 10, 10, '/', 30_000);

  const { mesh } = d;

  await t.test('health: an instance whose app is down is ejected by the caller and gets no traffic', async (t) => {
    await startService(d.mesh, d, 'zone-1', 'invoices', '2');
    await converge(d, 'invoices.mesh', 'both invoices instances in use', (c) => c.has('invoices/zone-1/1') && c.has('invoices/zone-1/2'), 10);
    const users = d.sidecars.get('users-1')!;
    const before = await adminStats(users.adminPort);
    // Only the app dies: its sidecar stays up, accepts mTLS connections and answers 503
    // (nothing listens on the app port). Connect-failure ejection cannot see that; the
    // CP's outlier_detection (consecutive_5xx: 5) on users' invoices cluster must.
    await d.mesh.killProcess(d.apps.get('invoices-2')!.proc);
    // Until the ejection the dead instance still gets its round-robin turn: at most 5
    // answers can be 503 (the fifth ejects it). 20 calls are enough for 5 turns.
    const during = await d.users.tally('invoices.mesh', 20);
    const failed = during.failures.length;
    t.ok(failed >= 1 && failed <= 5, `while detecting: ${failed} of 20 calls answered by the dead instance (1..5): ${formatCounts(during.counts)}`);
    const after = await d.users.tally('invoices.mesh', 30);
    t.equal(after.failures.length, 0, 'after the ejection no call fails');
    t.same([...after.counts], [['invoices/zone-1/1', 30]], `every call served by the live instance: ${formatCounts(after.counts)}`);
    const stats = await adminStats(users.adminPort);
    const ejected = grown(before, stats, /^cluster\.invoices\.outlier_detection_ejections_enforced_consecutive_5xx$/);
    t.same(ejected, [['cluster.invoices.outlier_detection_ejections_enforced_consecutive_5xx', 1]], "users' sidecar ejected the instance once, by consecutive 5xx");
    // Then the whole instance goes: its endpoint stays in users' EDS until the zone CP
    // notices, and a refused connect is retried on another endpoint.
    await d.mesh.killProcess(d.sidecars.get('invoices-2')!.proc);
    const gone = await d.users.tally('invoices.mesh', 10);
    t.equal(gone.failures.length, 0, `instance gone: no call fails (${formatCounts(gone.counts)})`);
  });

  await t.test('sync: created and updated on global, refused in a zone', async (t) => {
    const tp = {
      type: 'TrafficPermission',
      mesh: 'default',
      name: 'billing-from-users',
      sources: [{ match: { 'kuma.io/service': 'users' } }],
      destinations: [{ match: { 'kuma.io/service': 'billing' } }],
    };
    await applyOnGlobal(d, tp);
    const updated = { ...tp, sources: [{ match: { 'kuma.io/service': 'users', 'kuma.io/zone': 'zone-1' } }] };
    await applyOnGlobal(d, updated);
    for (const z of mesh.zones.values()) {
      const got = (await mesh.api(z, 'GET', resourcePath(tp))).json;
      t.same(got.sources, updated.sources, `${z.name} holds the update`);
      t.equal(got.labels?.['kuma.io/origin'], 'global');
      const refused = await mesh.api(z, 'PUT', resourcePath(tp), tp);
      t.equal(refused.status, 409, `${z.name} refuses to change it (${refused.status})`);
    }
  });

  await t.test('kill -9 a zone CP: global marks it offline within 30 s, online after restart', async (t) => {
    const z2 = mesh.zoneCp('zone-2');
    await mesh.killCp(z2);
    const started = Date.now();
    await mesh.waitZoneOnline('zone-2', false, 30_000);
    t.pass(`global marked zone-2 offline after ${Date.now() - started} ms`);
    await mesh.restartCp(z2);
    await mesh.waitZoneOnline('zone-2', true, 30_000);
    t.pass(`zone-2 online again ${Date.now() - started} ms after the kill`);
  });

  await t.test('kill -9 a zone CP: traffic continues, zone offline, back online after restart', async (t) => {
    const z2 = mesh.zoneCp('zone-2');
    await mesh.killCp(z2);
    const started = Date.now();
    const during = await d.users.tally('billing.mesh', 20);
    t.same([...during.counts], [['billing/zone-2/1', 20]], `cross-zone calls with zone-2 CP dead: ${formatCounts(during.counts)}`);
    await mesh.waitZoneOnline('zone-2', false, 30_000);
    t.ok(Date.now() - started <= 30_000, `global marked zone-2 offline after ${Date.now() - started} ms`);
    await mesh.restartCp(z2);
    await mesh.waitZoneOnline('zone-2', true, 30_000);
    const after = await d.users.tally('billing.mesh', 10);
    t.same([...after.counts], [['billing/zone-2/1', 10]], `after restart: ${formatCounts(after.counts)}`);
  });

  await t.test('kill -9 global: local and cross-zone traffic continue without a failed request', async (t) => {
    const g = mesh.global!;
    let killedAt = 0;
    const calls = (async () => {
      const out = { ok: 0, failed: [] as string[] };
      // Calls before, during and for 3 s after the kill.
      while (killedAt === 0 || Date.now() - killedAt < 3000) {
        for (const host of ['invoices.mesh', 'billing.mesh']) {
          const c = await d.users.call(host);
          if (c.result?.status === 200) out.ok++;
          else out.failed.push(`${host}: ${c.error ?? c.result?.status}`);
        }
      }
      return out;
    })();
    await new Promise((r) => setTimeout(r, 300));
    await mesh.killCp(g);
    killedAt = Date.now();
    const res = await calls;
    t.ok(res.ok >= 20, `${res.ok} calls made`);
    t.equal(res.failed.length, 0, `${res.ok}/${res.ok + res.failed.length} calls ok around the SIGKILL of global${res.failed.length ? `; failed: ${res.failed.slice(0, 3).join('; ')}` : ''}`);
    await mesh.restartCp(g);
    await mesh.waitZoneOnline('zone-1', true, 30_000);
    await mesh.waitZoneOnline('zone-2', true, 30_000);
    t.pass('both zones reconnected to the restarted global');
  });
});
