/**
 * Reuse across regenerations keyed by the store's frozen Dataplane spec (inbound.ts:
 * a proxy's inbound resources; outbound.ts: its outbound key). A reused result must be
 * exactly what generating afresh gives, and any input it depends on - the spec itself,
 * the zone, the mesh's mTLS, the TrafficPermission that governs an inbound, DNS, the tag
 * keys routes select sources by - must invalidate it. "Afresh" is the same generation
 * from an unfrozen copy of the spec, which is never cached.
 */
import t, { type Test } from 'tap';
import type { Resource, ResourceInput } from '../../../api/resource';
import { MemoryStore } from '../../../cp/store/memory-store';
import { buildMeshSnapshots, type StoreContents } from '../../../cp/xds/generators/mesh-snapshot';
import { buildProxyContext } from '../../../cp/xds/generators/proxy-context';
import { generateResources } from '../../../cp/xds/generators/profiles';
import { isSharedResource, type ResourceSet } from '../../../cp/xds/generators/types';
import { Snapshot } from '../../../cp/xds/cache/snapshot';
import { TypeUrl } from '../../../proto/index';

const MTLS = { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } };
const identity = { certPem: 'cert', keyPem: 'key', caPem: 'ca' };

const web = (port = 8080, extra: Record<string, string> = {}): ResourceInput => ({
  type: 'Dataplane',
  mesh: 'default',
  name: 'web-1',
  spec: { networking: { address: '10.0.0.1', inbound: [{ port, servicePort: 9080, tags: { 'kuma.io/service': 'web', ...extra } }], outbound: [{ port: 20001, tags: { 'kuma.io/service': 'db' } }] } },
});
const db: ResourceInput = { type: 'Dataplane', mesh: 'default', name: 'db-1', spec: { networking: { address: '10.0.0.2', inbound: [{ port: 5432, tags: { 'kuma.io/service': 'db' } }] } } };
const permission = (from: string): ResourceInput => ({
  type: 'TrafficPermission',
  mesh: 'default',
  name: 'to-web',
  spec: { sources: [{ match: { 'kuma.io/service': from } }], destinations: [{ match: { 'kuma.io/service': 'web' } }] },
});

async function store(meshSpec: Record<string, any> = {}): Promise<MemoryStore> {
  const s = new MemoryStore();
  await s.create({ type: 'Mesh', name: 'default', spec: meshSpec });
  await s.create(web());
  await s.create(db);
  return s;
}

/** What the reconciler reads: the store's own frozen resources. */
async function contents(s: MemoryStore, vips: Record<string, string> = {}): Promise<StoreContents> {
  const list = async (type: Resource['meta']['type']) => [...(await s.listShared(type))];
  return { meshes: await list('Mesh'), dataplanes: await list('Dataplane'), zoneIngresses: [], trafficRoutes: await list('TrafficRoute'), trafficPermissions: await list('TrafficPermission'), vips: { default: vips } };
}

interface Opts {
  zone?: string;
  dns?: boolean;
  mtls?: boolean;
}

function generate(c: StoreContents, o: Opts = {}, copy = false): ResourceSet {
  const meshes = buildMeshSnapshots(c, o.zone ?? '');
  let resource = c.dataplanes.find((d) => d.meta.name === 'web-1')!;
  if (copy) resource = structuredClone(resource);
  return generateResources(buildProxyContext(meshes, { kind: 'dataplane', mesh: 'default', name: 'web-1', resource, dnsEnabled: o.dns ?? false }, { zone: o.zone ?? '', vipPort: 80 }, o.mtls ? identity : undefined));
}

/** The reused result equals a fresh one, resource by resource, and encodes to the same bytes. */
function sameAsFresh(t: Test, c: StoreContents, o: Opts, what: string): ResourceSet {
  const reused = generate(c, o);
  const fresh = generate(c, o, true);
  for (const type of [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Secret]) {
    t.same([...(reused.get(type) ?? new Map())].sort(), [...(fresh.get(type) ?? new Map())].sort(), `${what}: ${type.split('.').pop()} as generated afresh`);
  }
  const a = Snapshot.fromResourceSet(reused);
  const b = Snapshot.fromResourceSet(fresh);
  for (const type of [TypeUrl.Cluster, TypeUrl.Listener]) t.equal(a.version(type), b.version(type), `${what}: same ${type.split('.').pop()} version`);
  return reused;
}

const inbound = (set: ResourceSet, port = 8080) => set.get(TypeUrl.Listener)!.get(`inbound:10.0.0.1:${port}`)!;

t.test('an unchanged Dataplane keeps its inbound listener across mesh snapshots; a changed one gets a new one', async (t) => {
  const s = await store();
  const c1 = await contents(s);
  const first = sameAsFresh(t, c1, {}, 'first');
  t.ok(isSharedResource(inbound(first)), "the store's spec: the inbound listener is shared (frozen, encoded by identity)");
  // Another resource changes (a new mesh snapshot), this Dataplane does not.
  await s.create({ type: 'TrafficRoute', mesh: 'default', name: 'r', spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }], conf: { destination: { 'kuma.io/service': '*' } } } });
  const second = sameAsFresh(t, await contents(s), {}, 'after a route change');
  t.equal(inbound(second), inbound(first), 'the same listener object');

  // The Dataplane itself changes: a new port must show, the old listener must not.
  await s.update(web(8081));
  const third = sameAsFresh(t, await contents(s), {}, 'after the Dataplane changed');
  t.notOk(third.get(TypeUrl.Listener)!.has('inbound:10.0.0.1:8080'), 'the old inbound listener is gone');
  t.equal(inbound(third, 8081).address.socket_address.port_value, 8081);

  // Same spec, another zone: the zone tag is part of the inbound's identity.
  sameAsFresh(t, await contents(s), { zone: 'zone-1' }, 'in another zone');
});

t.test('mTLS and TrafficPermission changes reach the inbound listener', async (t) => {
  const s = await store();
  const plain = sameAsFresh(t, await contents(s), {}, 'no mTLS');
  t.notOk(inbound(plain).filter_chains[0].transport_socket, 'no TLS without mTLS');

  await s.update({ type: 'Mesh', name: 'default', spec: MTLS });
  await s.create(permission('db'));
  const tls = sameAsFresh(t, await contents(s), { mtls: true }, 'mTLS on');
  t.ok(inbound(tls).filter_chains[0].transport_socket, 'TLS once the mesh has mTLS');
  const principals = (set: ResourceSet) => JSON.stringify(inbound(set).filter_chains[0].filters[0].typed_config.rules);
  t.match(principals(tls), /spiffe:\/\/default\/db/);

  // Only the permission changes: the Dataplane spec is the same object, the RBAC is not.
  await s.update(permission('api'));
  const changed = sameAsFresh(t, await contents(s), { mtls: true }, 'permission changed');
  t.match(principals(changed), /spiffe:\/\/default\/api/);
  t.notMatch(principals(changed), /spiffe:\/\/default\/db/, 'the old source is no longer allowed');

  // Unchanged permission, a new mesh snapshot: reused.
  await s.create({ type: 'Dataplane', mesh: 'default', name: 'other', spec: { networking: { address: '10.0.0.9', inbound: [{ port: 1, tags: { 'kuma.io/service': 'x' } }] } } });
  const again = sameAsFresh(t, await contents(s), { mtls: true }, 'unrelated change');
  t.equal(inbound(again), inbound(changed), 'the same listener object');

  await s.update({ type: 'Mesh', name: 'default', spec: {} });
  const off = sameAsFresh(t, await contents(s), {}, 'mTLS off again');
  t.notOk(inbound(off).filter_chains[0].transport_socket, 'no TLS after mTLS is turned off');
});

/** Several proxies generated from one mesh snapshot (the outbound memo is per snapshot). */
function generateAll(c: StoreContents, proxies: { name: string; dns?: boolean }[]): ResourceSet[] {
  const meshes = buildMeshSnapshots(c, '');
  return proxies.map((p) => {
    const resource = c.dataplanes.find((d) => d.meta.name === p.name)!;
    return generateResources(buildProxyContext(meshes, { kind: 'dataplane', mesh: 'default', name: p.name, resource, dnsEnabled: p.dns ?? false }, { zone: '', vipPort: 80 }));
  });
}

const listeners = (set: ResourceSet) => [...set.get(TypeUrl.Listener)!.keys()].sort();
const clusters = (set: ResourceSet) => [...set.get(TypeUrl.Cluster)!.keys()].sort();

t.test('the outbound key follows DNS and the tags routes select sources by', async (t) => {
  const s = await store();
  const vips = { db: '240.0.0.1', web: '240.0.0.2' };
  const c = await contents(s, vips);
  sameAsFresh(t, c, {}, 'without DNS');
  sameAsFresh(t, c, { zone: 'zone-1' }, 'another zone');
  // One spec object, two proxies of one mesh snapshot (as when kuma-dp reconnects with --dns-enabled).
  const [noDns, dns] = generateAll(c, [{ name: 'web-1' }, { name: 'web-1', dns: true }]);
  t.notOk(listeners(noDns).includes('outbound:240.0.0.1:80'), 'no VIP listeners without DNS');
  t.ok(listeners(dns).includes('outbound:240.0.0.1:80'), 'VIP listeners with DNS, same spec object');

  // Two replicas that differ only in `version`; their keys were computed while no route
  // looked at `version`. A route by source version must tell them apart afterwards.
  await s.update(web(8080, { version: 'v2' }));
  await s.create({ ...web(8080, { version: 'v1' }), name: 'web-2', spec: { networking: { ...web(8080, { version: 'v1' }).spec.networking, address: '10.0.0.5' } } });
  await s.create({ type: 'Dataplane', mesh: 'default', name: 'db-2', spec: { networking: { address: '10.0.0.3', inbound: [{ port: 5432, tags: { 'kuma.io/service': 'db', version: 'v2' } }] } } });
  const before = generateAll(await contents(s, vips), [{ name: 'web-1' }, { name: 'web-2' }]);
  t.same(clusters(before[0]), clusters(before[1]), 'no route by version yet: the same outbound clusters');
  await s.create({
    type: 'TrafficRoute',
    mesh: 'default',
    name: 'v2-to-v2',
    spec: { sources: [{ match: { 'kuma.io/service': 'web', version: 'v2' } }], destinations: [{ match: { 'kuma.io/service': 'db' } }], conf: { destination: { 'kuma.io/service': 'db', version: 'v2' } } },
  });
  const after = generateAll(await contents(s, vips), [{ name: 'web-2' }, { name: 'web-1' }]);
  t.notOk(clusters(after[0]).some((n) => n.startsWith('db-')), 'web-2 (v1): plain db');
  t.ok(clusters(after[1]).some((n) => n.startsWith('db-')), 'web-1 (v2): the v2 subset of db');
  sameAsFresh(t, await contents(s, vips), {}, 'after a route by source version');
});
