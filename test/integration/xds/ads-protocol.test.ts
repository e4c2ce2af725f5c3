/**
 * The ADS server over a real gRPC socket: protocol invariants on every response,
 * ACK/NACK handling, pushes on store changes (and none when nothing changed), delta
 * xDS, and hostile or broken clients that must not affect anyone else.
 */
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import t, { type Test } from 'tap';
import { MemoryStore } from '../../../cp/store/memory-store';
import { XdsServer } from '../../../cp/xds/server/xds-server';
import { GrpcH2Server } from '../../../cp/xds/server/grpc-h2';
import { silentLogger } from '../../../lib/logger';
import { TypeUrl } from '../../../proto/index';
import { AdsTestClient } from './ads-test-client';

function logCapture() {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

async function setup(t: Test) {
  const store = new MemoryStore();
  await store.create({ type: 'Mesh', name: 'default', spec: {} });
  await store.create({ type: 'Mesh', name: 'other', spec: {} });
  const dp = (mesh: string, name: string, ip: string, service: string, port: number, outbound?: string) => ({
    type: 'Dataplane' as const,
    mesh,
    name,
    spec: {
      networking: {
        address: ip,
        inbound: [{ port, servicePort: port + 1000, tags: { 'kuma.io/service': service } }],
        outbound: outbound ? [{ port: 10001, tags: { 'kuma.io/service': outbound } }] : [],
      },
    },
  });
  await store.create(dp('default', 'web-1', '127.0.0.2', 'web', 8080, 'backend'));
  await store.create(dp('default', 'backend-1', '127.0.0.3', 'backend', 9090));
  await store.create(dp('other', 'secret-1', '127.0.0.9', 'backend', 7070));
  const { log, lines } = logCapture();
  const xds = new XdsServer({ store, log, cp: { zone: 'zone-1', vipPort: 80 }, authn: 'none', debounceMs: 20, nackBackoff: { initialMs: 200, maxMs: 400 }, firstRequestTimeoutMs: 500 });
  await xds.start();
  const server = new GrpcH2Server({ methods: xds.ads.methods(), log: silentLogger() });
  const port = await server.listen('127.0.0.1', 0);
  const clients: AdsTestClient[] = [];
  const open = (id: string, delta = false, extra: Record<string, any> = {}) => {
    const c = new AdsTestClient(`127.0.0.1:${port}`, { id, cluster: 'x', ...extra }, delta);
    clients.push(c);
    return c;
  };
  t.teardown(async () => {
    for (const c of clients) c.close();
    await xds.close();
    server.destroy();
  });
  return { store, xds, open, lines };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('SotW: invariants, ACK, no resend when unchanged, push on change', async (t) => {
  const { store, open } = await setup(t);
  const c = open('default.web-1');
  c.request(TypeUrl.Cluster);
  const cds = await c.next(TypeUrl.Cluster, 0);
  t.same(cds.names, ['backend', 'localhost:9080']);
  c.request(TypeUrl.Cluster, [], cds);
  c.request(TypeUrl.ClusterLoadAssignment, ['backend']);
  const eds = await c.next(TypeUrl.ClusterLoadAssignment, 0);
  t.same(eds.names, ['backend']);
  t.equal(eds.resources[0].endpoints[0].lb_endpoints.length, 1);
  c.request(TypeUrl.ClusterLoadAssignment, ['backend'], eds);
  c.request(TypeUrl.Listener);
  const lds = await c.next(TypeUrl.Listener, 0);
  t.same(lds.names, ['inbound:127.0.0.2:8080', 'outbound:127.0.0.1:10001']);
  c.request(TypeUrl.Listener, [], lds);
  await sleep(200);
  const before = c.received.length;
  // Unrelated change in another mesh: nothing is re-sent.
  await store.create({ type: 'Dataplane', mesh: 'other', name: 'secret-2', spec: { networking: { address: '127.0.0.10', inbound: [{ port: 7071, tags: { 'kuma.io/service': 'backend' } }] } } });
  await sleep(200);
  t.equal(c.received.length, before, 'no response for a change in another mesh');
  // A second backend instance: only EDS changes.
  await store.create({ type: 'Dataplane', mesh: 'default', name: 'backend-2', spec: { networking: { address: '127.0.0.4', inbound: [{ port: 9090, tags: { 'kuma.io/service': 'backend' } }] } } });
  const eds2 = await c.next(TypeUrl.ClusterLoadAssignment, before);
  const hosts = eds2.resources[0].endpoints.flatMap((l: any) => l.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.address)).sort();
  t.same(hosts, ['127.0.0.3', '127.0.0.4'], 'mesh isolation: the other mesh\'s backend never appears');
  c.request(TypeUrl.ClusterLoadAssignment, ['backend'], eds2);
  await sleep(200);
  t.equal(c.count(TypeUrl.Listener), 1, 'LDS not re-sent');
  t.equal(c.count(TypeUrl.Cluster), 1, 'CDS not re-sent');
  t.same(c.violations, []);
});

t.test('after a CDS update, an unchanged EDS subscription is answered again (cluster warming)', async (t) => {
  const { store, open } = await setup(t);
  const c = open('default.web-1');
  c.request(TypeUrl.Cluster);
  const cds = await c.next(TypeUrl.Cluster, 0);
  c.request(TypeUrl.Cluster, [], cds);
  c.request(TypeUrl.ClusterLoadAssignment, ['backend']);
  const eds = await c.next(TypeUrl.ClusterLoadAssignment, 0);
  c.request(TypeUrl.ClusterLoadAssignment, ['backend'], eds);
  await sleep(100);
  const n = c.received.length;
  // Only the local app cluster changes; backend's endpoints do not.
  await store.update({ type: 'Dataplane', mesh: 'default', name: 'web-1', spec: { networking: { address: '127.0.0.2', inbound: [{ port: 8080, servicePort: 7777, tags: { 'kuma.io/service': 'web' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }] } } });
  const cds2 = await c.next(TypeUrl.Cluster, n);
  c.request(TypeUrl.Cluster, [], cds2);
  const m = c.received.length;
  // Envoy re-requests EDS for the warming clusters with the same names and nonce.
  c.request(TypeUrl.ClusterLoadAssignment, ['backend'], eds);
  const again = await c.next(TypeUrl.ClusterLoadAssignment, m);
  t.equal(again.version, eds.version, 'same content, answered anyway');
  t.same(again.names, ['backend']);
  t.same(c.violations, []);
});

t.test('a change that leaves the subscribed CLAs as they were sends no EDS until the client asks for new names', async (t) => {
  const { store, open } = await setup(t);
  await store.create({ type: 'Dataplane', mesh: 'default', name: 'backend-2', spec: { networking: { address: '127.0.0.4', inbound: [{ port: 9090, tags: { 'kuma.io/service': 'backend', version: 'v2' } }] } } });
  const c = open('default.web-1');
  c.request(TypeUrl.Cluster);
  const cds = await c.next(TypeUrl.Cluster, 0);
  c.request(TypeUrl.Cluster, [], cds);
  c.request(TypeUrl.ClusterLoadAssignment, ['backend']);
  const eds = await c.next(TypeUrl.ClusterLoadAssignment, 0);
  c.request(TypeUrl.ClusterLoadAssignment, ['backend'], eds);
  c.request(TypeUrl.Listener);
  c.request(TypeUrl.Listener, [], await c.next(TypeUrl.Listener, 0));
  await sleep(150);
  const n = c.received.length;
  // A split to a v2 subset: a new cluster and CLA; the plain backend CLA is unchanged.
  await store.upsert({
    type: 'TrafficRoute',
    mesh: 'default',
    name: 'route-all-default',
    spec: {
      sources: [{ match: { 'kuma.io/service': '*' } }],
      destinations: [{ match: { 'kuma.io/service': '*' } }],
      conf: { split: [{ weight: 90, destination: { 'kuma.io/service': '*' } }, { weight: 10, destination: { 'kuma.io/service': '*', version: 'v2' } }] },
    },
  });
  const cds2 = await c.next(TypeUrl.Cluster, n);
  const subset = cds2.names.find((x) => x.startsWith('backend-'));
  t.ok(subset, `the subset cluster arrives (${cds2.names.join(', ')})`);
  c.request(TypeUrl.Cluster, [], cds2);
  c.request(TypeUrl.Listener, [], await c.next(TypeUrl.Listener, n));
  await sleep(200);
  t.equal(c.received.slice(n).filter((r) => r.type_url === TypeUrl.ClusterLoadAssignment).length, 0, 'no EDS response for the unchanged backend CLA');
  // The client, having the new cluster, subscribes to its CLA too: answered at once.
  const m = c.received.length;
  c.request(TypeUrl.ClusterLoadAssignment, ['backend', subset!], eds);
  const eds2 = await c.next(TypeUrl.ClusterLoadAssignment, m);
  t.same(eds2.names, ['backend', subset]);
  const hosts = (name: string) => eds2.resources.find((r: any) => r.cluster_name === name)!.endpoints.flatMap((l: any) => l.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.address)).sort();
  t.same(hosts(subset!), ['127.0.0.4'], 'the subset CLA holds the v2 instance');
  t.same(hosts('backend'), ['127.0.0.3', '127.0.0.4']);
  // A change to a subscribed CLA is still pushed without a request.
  c.request(TypeUrl.ClusterLoadAssignment, ['backend', subset!], eds2);
  await sleep(100);
  const k = c.received.length;
  await store.create({ type: 'Dataplane', mesh: 'default', name: 'backend-3', spec: { networking: { address: '127.0.0.5', inbound: [{ port: 9090, tags: { 'kuma.io/service': 'backend', version: 'v2' } }] } } });
  const eds3 = await c.next(TypeUrl.ClusterLoadAssignment, k);
  t.same(eds3.resources.find((r: any) => r.cluster_name === subset)!.endpoints.flatMap((l: any) => l.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.address)).sort(), ['127.0.0.4', '127.0.0.5']);
  t.same(c.violations, []);
});

t.test('NACK: logged with node, type and error_detail; rejected version never re-sent; next version after backoff', async (t) => {
  const { store, open, lines } = await setup(t);
  const c = open('default.web-1');
  c.request(TypeUrl.Cluster);
  const cds = await c.next(TypeUrl.Cluster, 0);
  c.request(TypeUrl.Cluster, [], cds, 'cluster backend: unsupported lb_policy');
  await sleep(300);
  const nack = lines.find((l) => l.msg === 'NACK');
  t.ok(nack, 'NACK logged');
  t.equal(nack?.node, 'default.web-1');
  t.equal(nack?.type, TypeUrl.Cluster);
  t.match(nack?.error_detail?.message, /unsupported lb_policy/);
  t.equal(c.count(TypeUrl.Cluster), 1, 'the rejected version is not re-sent');
  const n = c.received.length;
  await store.create({ type: 'Dataplane', mesh: 'default', name: 'db-1', spec: { networking: { address: '127.0.0.5', inbound: [{ port: 5432, tags: { 'kuma.io/service': 'db' } }] } } });
  await store.update({ type: 'Dataplane', mesh: 'default', name: 'web-1', spec: { networking: { address: '127.0.0.2', inbound: [{ port: 8080, servicePort: 9080, tags: { 'kuma.io/service': 'web' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }, { port: 10002, tags: { 'kuma.io/service': 'db' } }] } } });
  const cds2 = await c.next(TypeUrl.Cluster, n);
  t.ok(cds2.names.includes('db'), 'a new version is sent after the backoff');
  t.not(cds2.version, cds.version);
  t.same(c.violations, []);
});

t.test('NACK storm from one client does not disturb another', async (t) => {
  const { store, open } = await setup(t);
  const bad = open('default.web-1');
  const good = open('default.backend-1');
  bad.request(TypeUrl.Cluster);
  good.request(TypeUrl.Cluster);
  let last = await bad.next(TypeUrl.Cluster, 0);
  const g0 = await good.next(TypeUrl.Cluster, 0);
  good.request(TypeUrl.Cluster, [], g0);
  // 200 NACKs, including stale nonces and garbage types.
  for (let i = 0; i < 200; i++) {
    bad.request(TypeUrl.Cluster, [], i % 3 === 0 ? { ...last, nonce: 'stale-' + i } : last, 'rejected ' + i);
    if (i % 50 === 0) bad.request('type.googleapis.com/not.a.Type', ['x']);
  }
  await store.create({ type: 'Dataplane', mesh: 'default', name: 'cache-1', spec: { networking: { address: '127.0.0.6', inbound: [{ port: 6379, tags: { 'kuma.io/service': 'cache' } }] } } });
  await store.update({ type: 'Dataplane', mesh: 'default', name: 'backend-1', spec: { networking: { address: '127.0.0.3', inbound: [{ port: 9090, servicePort: 10090, tags: { 'kuma.io/service': 'backend' } }], outbound: [{ port: 10003, tags: { 'kuma.io/service': 'cache' } }] } } });
  const g1 = await good.next(TypeUrl.Cluster, 1);
  t.ok(g1.names.includes('cache'), 'the well-behaved client got its update');
  await sleep(300);
  t.ok(bad.count(TypeUrl.Cluster) <= 3, `the NACKing client got few responses (${bad.count(TypeUrl.Cluster)}), not one per NACK`);
  t.notOk(bad.status, 'the NACKing stream is still open');
  t.same(bad.violations, []);
  t.same(good.violations, []);
});

t.test('unknown node, missing node id and malformed ids end the stream with a clear status', async (t) => {
  const { open } = await setup(t);
  const unknown = open('default.nobody');
  unknown.request(TypeUrl.Listener);
  await unknown.done;
  t.equal(unknown.status?.code, grpc.status.NOT_FOUND);
  t.match(unknown.status?.details, /Dataplane "nobody" not found in mesh "default"/);
  const noMesh = open('ghost.web-1');
  noMesh.request(TypeUrl.Listener);
  await noMesh.done;
  t.equal(noMesh.status?.code, grpc.status.NOT_FOUND);
  t.match(noMesh.status?.details, /mesh "ghost" not found/);
  const bad = open('no-dot-here');
  bad.request(TypeUrl.Listener);
  await bad.done;
  t.equal(bad.status?.code, grpc.status.INVALID_ARGUMENT);
  t.match(bad.status?.details, /node\.id/);
  const empty = open('');
  empty.request(TypeUrl.Listener);
  await empty.done;
  t.equal(empty.status?.code, grpc.status.INVALID_ARGUMENT);
});

t.test('delta xDS: wildcard, only changed resources, removals, unsubscribe', async (t) => {
  const { store, open } = await setup(t);
  const c = open('default.web-1', true);
  c.deltaRequest(TypeUrl.Cluster);
  const r1 = await c.next(TypeUrl.Cluster, 0);
  t.same(r1.names, ['backend', 'localhost:9080']);
  c.deltaRequest(TypeUrl.Cluster, [], [], r1);
  c.deltaRequest(TypeUrl.ClusterLoadAssignment, ['backend']);
  const e1 = await c.next(TypeUrl.ClusterLoadAssignment, 0);
  c.deltaRequest(TypeUrl.ClusterLoadAssignment, [], [], e1);
  const n = c.received.length;
  // Change the local app port: only the localhost cluster changes.
  await store.update({ type: 'Dataplane', mesh: 'default', name: 'web-1', spec: { networking: { address: '127.0.0.2', inbound: [{ port: 8080, servicePort: 9999, tags: { 'kuma.io/service': 'web' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }] } } });
  const r2 = await c.next(TypeUrl.Cluster, n);
  t.same(r2.names, ['localhost:9999'], 'only the new cluster is sent');
  t.same(r2.removed, ['localhost:9080'], 'the old one is removed');
  c.deltaRequest(TypeUrl.Cluster, [], [], r2);
  const m = c.received.length;
  c.deltaRequest(TypeUrl.ClusterLoadAssignment, [], ['backend']);
  await store.create({ type: 'Dataplane', mesh: 'default', name: 'backend-9', spec: { networking: { address: '127.0.0.7', inbound: [{ port: 9090, tags: { 'kuma.io/service': 'backend' } }] } } });
  await sleep(300);
  t.equal(c.received.slice(m).filter((r) => r.type_url === TypeUrl.ClusterLoadAssignment).length, 0, 'no EDS after unsubscribing');
  t.same(c.violations, []);
});

t.test('delta xDS, make before break: a subscribed CLA that left the snapshot is not removed until the client unsubscribes', async (t) => {
  const { store, open } = await setup(t);
  await store.create({ type: 'Dataplane', mesh: 'default', name: 'backend-2', spec: { networking: { address: '127.0.0.4', inbound: [{ port: 9090, tags: { 'kuma.io/service': 'backend', version: 'v2' } }] } } });
  const c = open('default.web-1', true);
  c.deltaRequest(TypeUrl.Cluster);
  const r1 = await c.next(TypeUrl.Cluster, 0);
  c.deltaRequest(TypeUrl.Cluster, [], [], r1);
  c.deltaRequest(TypeUrl.ClusterLoadAssignment, ['backend']);
  const e1 = await c.next(TypeUrl.ClusterLoadAssignment, 0);
  t.same(e1.names, ['backend']);
  c.deltaRequest(TypeUrl.ClusterLoadAssignment, [], [], e1);
  await sleep(100);
  const n = c.received.length;
  // Everything to the v2 subset: cluster "backend" and its CLA leave the snapshot.
  await store.upsert({
    type: 'TrafficRoute',
    mesh: 'default',
    name: 'route-all-default',
    spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }], conf: { destination: { 'kuma.io/service': '*', version: 'v2' } } },
  });
  const r2 = await c.next(TypeUrl.Cluster, n);
  const subset = r2.names.find((x) => x.startsWith('backend-'));
  t.ok(subset, `CDS brings the subset cluster (${r2.names.join(', ')})`);
  t.same(r2.removed, ['backend'], 'CDS (wildcard) removes the old cluster');
  c.deltaRequest(TypeUrl.Cluster, [], [], r2);
  await sleep(200);
  const edsRemovals = () => c.received.slice(n).filter((r) => r.type_url === TypeUrl.ClusterLoadAssignment).flatMap((r) => r.removed);
  t.same(edsRemovals(), [], 'the still-subscribed CLA "backend" is not removed');
  // The client switches: subscribes to the subset's CLA and drops the old name.
  const m = c.received.length;
  c.deltaRequest(TypeUrl.ClusterLoadAssignment, [subset!], ['backend']);
  const e2 = await c.next(TypeUrl.ClusterLoadAssignment, m);
  t.same(e2.names, [subset]);
  t.same(e2.removed, [], 'nothing to remove: the client unsubscribed itself');
  t.same(e2.resources[0].endpoints.flatMap((l: any) => l.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.address)), ['127.0.0.4']);
  c.deltaRequest(TypeUrl.ClusterLoadAssignment, [], [], e2);
  await sleep(100);
  t.same(edsRemovals(), [], 'no removal of "backend" at any point');
  t.same(c.violations, []);
});

t.test('a stream that never sends a request is closed; others are unaffected', async (t) => {
  const { open } = await setup(t);
  const silent = open('default.web-1');
  const good = open('default.web-1');
  good.request(TypeUrl.Listener);
  await good.next(TypeUrl.Listener, 0);
  await silent.done;
  t.equal(silent.status?.code, grpc.status.DEADLINE_EXCEEDED);
  t.match(silent.status?.details, /no DiscoveryRequest within 500 ms/);
  t.notOk(good.status, 'the active stream stays open');
});

t.test('a client that disconnects mid-stream and a malformed request leave the server serving', async (t) => {
  const { open } = await setup(t);
  for (let i = 0; i < 5; i++) {
    const c = open('default.web-1');
    c.request(TypeUrl.Listener);
    c.close();
  }
  const odd = open('default.web-1');
  odd.call.write({ node: { id: 'default.web-1' }, type_url: '', resource_names: ['\u0000'.repeat(3)] });
  odd.request(TypeUrl.Listener, [], undefined, undefined, true);
  const l = await odd.next(TypeUrl.Listener, 0);
  t.equal(l.names.length, 2);
  t.same(odd.violations, []);
});
