/** Snapshots: content versions per type, the consistency check, and the cache's watch semantics. */
import t from 'tap';
import { GenerationalEncodeCache, Snapshot, consistent, type TypeCache } from '../../../cp/xds/cache/snapshot';
import { sharedResource } from '../../../cp/xds/generators/types';
import { SnapshotCache } from '../../../cp/xds/cache/snapshot-cache';
import { addResource, emptyResourceSet } from '../../../cp/xds/generators/types';
import { ExtensionTypeUrl, TypeUrl } from '../../../proto/index';

const eds = (name: string) => ({ name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } });
const cla = (name: string, port = 80) => ({ cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] });
const hcmListener = (name: string, rds: string) => ({
  name,
  address: { socket_address: { address: '127.0.0.1', port_value: 1 } },
  filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': ExtensionTypeUrl.HttpConnectionManager, stat_prefix: 's', rds: { config_source: { ads: {} }, route_config_name: rds }, http_filters: [{ name: 'router', typed_config: { '@type': ExtensionTypeUrl.Router } }] } }] }],
});

function build(port = 80) {
  const s = emptyResourceSet();
  addResource(s, TypeUrl.Cluster, eds('a'));
  addResource(s, TypeUrl.ClusterLoadAssignment, cla('a', port));
  addResource(s, TypeUrl.Listener, hcmListener('l', 'r'));
  addResource(s, TypeUrl.RouteConfiguration, { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'a' } }] }] });
  return s;
}

t.test('versions are content hashes per type', async (t) => {
  const a = Snapshot.fromResourceSet(build());
  const b = Snapshot.fromResourceSet(build());
  const c = Snapshot.fromResourceSet(build(81));
  for (const type of [TypeUrl.Cluster, TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.ClusterLoadAssignment]) t.equal(a.version(type), b.version(type));
  t.not(a.version(TypeUrl.ClusterLoadAssignment), c.version(TypeUrl.ClusterLoadAssignment), 'changed type gets a new version');
  t.equal(a.version(TypeUrl.Cluster), c.version(TypeUrl.Cluster), 'unchanged types keep theirs');
  t.same(consistent(a), []);
});

t.test('type versions follow names and contents, order included', async (t) => {
  const one = (names: string[], port = 80) => {
    const s = emptyResourceSet();
    for (const n of names) addResource(s, TypeUrl.ClusterLoadAssignment, cla(n, port));
    return Snapshot.fromResourceSet(s).version(TypeUrl.ClusterLoadAssignment);
  };
  t.match(one(['a']), /^[0-9a-f]{16}$/);
  t.equal(one(['a', 'b']), one(['b', 'a']), 'names are sorted first');
  t.not(one(['a', 'b']), one(['a']), 'a removed resource changes the version');
  t.not(one(['a', 'b']), one(['a', 'c']), 'a renamed resource changes it');
  t.not(one(['a', 'b']), one(['a', 'b'], 81), 'changed content changes it');
  t.not(one([]), one(['a']));
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) seen.add(one([`c${i}`]));
  t.equal(seen.size, 2000, 'no collisions over 2000 single-resource types');
});

t.test('encoding cache: shared resources with known content are not encoded again; old entries age out', async (t) => {
  const cache = new GenerationalEncodeCache(4);
  const sharedSet = () => {
    const s = emptyResourceSet();
    addResource(s, TypeUrl.ClusterLoadAssignment, sharedResource(cla('a')));
    return s;
  };
  const first = Snapshot.fromResourceSet(sharedSet(), cache).of(TypeUrl.ClusterLoadAssignment).get('a')!;
  const second = Snapshot.fromResourceSet(sharedSet(), cache).of(TypeUrl.ClusterLoadAssignment).get('a')!;
  t.not(first, second, 'a new shared object gets its own resource');
  t.equal(second.any.value, first.any.value, 'with the encoding of the same content, taken from the cache');
  t.equal(second.version, first.version);
  const enc = (i: number) => ({ value: new Uint8Array([i]), version: String(i) });
  const c = new GenerationalEncodeCache(2);
  c.set('k0', enc(0));
  c.set('k1', enc(1));
  c.set('k2', enc(2)); // k0, k1 become the old generation
  t.equal(c.get('k0')?.version, '0', 'an old entry is still found, and moved back');
  c.set('k3', enc(3)); // young {k2, k0} -> old; k1 is dropped
  t.equal(c.get('k1'), undefined, 'the entry nobody used is gone');
  t.equal(c.get('k0')?.version, '0');
  t.ok(c.size <= 4);
});

t.test('type cache: one map for the same shared resources; anything else, even under a colliding key, is built afresh', async (t) => {
  const a = sharedResource(cla('a'));
  const b = sharedResource(cla('b'));
  const b2 = sharedResource(cla('b', 81));
  const set = (...rs: Record<string, any>[]) => {
    const s = emptyResourceSet();
    for (const r of rs) addResource(s, TypeUrl.ClusterLoadAssignment, r);
    return s;
  };
  const types: TypeCache = new Map();
  const of = (s: ReturnType<typeof set>, tc: TypeCache | undefined = types) => Snapshot.fromResourceSet(s, undefined, tc).of(TypeUrl.ClusterLoadAssignment);
  const ab = of(set(a, b));
  t.equal(of(set(a, b)), ab, 'the same shared objects: the same map');
  const ab2 = of(set(a, b2));
  t.not(ab2, ab, 'one other object: another map');
  t.equal(ab2.get('b')!.json.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, 81);
  const unshared = of(set(a, cla('b')));
  t.same([...unshared.keys()], ['a', 'b'], 'a resource that is not shared: built, not taken from the cache');
  t.not(unshared, ab);

  // Force a collision: every key of a cache that knows {a, b} now holds {a, b2}'s entry.
  const learn: TypeCache = new Map();
  of(set(a, b), learn);
  const other: TypeCache = new Map();
  of(set(a, b2), other);
  const wrongEntry = [...other.values()][0];
  const colliding: TypeCache = new Map([...learn.keys()].map((k) => [k, [...wrongEntry]]));
  const got = of(set(a, b), colliding);
  t.equal(got.get('b')!.json, b, 'the entry of other resources under the same key is not served');
  t.equal(Snapshot.fromResourceSet(set(a, b), undefined, colliding).version(TypeUrl.ClusterLoadAssignment), Snapshot.fromResourceSet(set(a, b)).version(TypeUrl.ClusterLoadAssignment));
});

t.test('consistent() names every dangling reference', async (t) => {
  const s = build();
  s.get(TypeUrl.ClusterLoadAssignment)!.clear();
  s.get(TypeUrl.RouteConfiguration)!.clear();
  addResource(s, TypeUrl.Listener, {
    name: 'tcp',
    address: { socket_address: { address: '127.0.0.1', port_value: 2 } },
    filter_chains: [{ filters: [{ name: 'tcp', typed_config: { '@type': ExtensionTypeUrl.TcpProxy, stat_prefix: 's', weighted_clusters: { clusters: [{ name: 'a', weight: 1 }, { name: 'ghost', weight: 1 }] } } }] }],
  });
  t.same(consistent(Snapshot.fromResourceSet(s)), [
    'cluster "a" uses EDS but there is no ClusterLoadAssignment "a"',
    'listener "l" uses RDS "r" which does not exist',
    'listener "tcp" references cluster "ghost" which does not exist',
  ]);
});

t.test('an unencodable resource is refused with its name and field', async (t) => {
  const s = build();
  addResource(s, TypeUrl.Cluster, { name: 'bad', typo: 1 });
  t.throws(() => Snapshot.fromResourceSet(s), { message: /Cluster "bad": typo: unknown field/ });
});

t.test('addResource refuses two different resources with one name', async (t) => {
  const s = build();
  t.throws(() => addResource(s, TypeUrl.Cluster, { ...eds('a'), connect_timeout: '2s' }), /generator conflict/);
  addResource(s, TypeUrl.Cluster, eds('a'));
});

t.test('cache: watchers get the current snapshot and later ones; unsubscribe stops them', async (t) => {
  const cache = new SnapshotCache();
  const s1 = Snapshot.fromResourceSet(build());
  const s2 = Snapshot.fromResourceSet(build(81));
  cache.setSnapshot('n', s1);
  const seen: Snapshot[] = [];
  const off = cache.watch('n', (s) => seen.push(s));
  cache.setSnapshot('other', s2);
  cache.setSnapshot('n', s2);
  off();
  cache.setSnapshot('n', s1);
  t.same(seen, [s1, s2]);
  t.same(cache.nodeIds(), ['n', 'other']);
  cache.clearSnapshot('n');
  t.equal(cache.getSnapshot('n'), undefined);
});
