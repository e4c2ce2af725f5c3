/**
 * Sharing between proxies (outbound.ts, endpoints.ts, snapshot.ts): proxies of one mesh
 * snapshot that call the same service get the same frozen cluster, CLA and route objects
 * and the same encoded SnapshotResource; the encoding equals that of an unshared copy;
 * a new mesh snapshot (any store change) is never served stale shared resources; and
 * the per-service inbound index finds exactly what a scan of every dataplane finds.
 */
import t from 'tap';
import type { Resource, ResourceType } from '../../../api/resource';
import { buildMeshSnapshots, type StoreContents } from '../../../cp/xds/generators/mesh-snapshot';
import { buildProxyContext } from '../../../cp/xds/generators/proxy-context';
import { generateResources } from '../../../cp/xds/generators/profiles';
import { inboundTags, localEndpoints } from '../../../cp/xds/generators/endpoints';
import { isSharedResource } from '../../../cp/xds/generators/types';
import { Snapshot } from '../../../cp/xds/cache/snapshot';
import { tagsMatch, type Tags } from '../../../lib/naming/tags';
import { TypeUrl } from '../../../proto/index';

const res = (type: ResourceType, name: string, spec: Record<string, any>, mesh?: string): Resource => ({
  meta: { type, mesh, name, version: '1', creationTime: '', modificationTime: '' },
  spec,
});

const dp = (name: string, address: string, service: string, calls: string, extra: Tags = {}) =>
  res('Dataplane', name, { networking: { address, inbound: [{ port: 8080, tags: { 'kuma.io/service': service, ...extra } }], outbound: [{ port: 20001, tags: { 'kuma.io/service': calls } }] } }, 'default');

function contents(dataplanes: Resource[], routes: Resource[] = []): StoreContents {
  return { meshes: [res('Mesh', 'default', {})], dataplanes, zoneIngresses: [], trafficRoutes: routes, trafficPermissions: [], vips: {} };
}

const cp = { zone: '', vipPort: 80 };
const gen = (c: StoreContents, meshes: ReturnType<typeof buildMeshSnapshots>, name: string) => {
  const resource = c.dataplanes.find((d) => d.meta.name === name)!;
  return generateResources(buildProxyContext(meshes, { kind: 'dataplane', mesh: 'default', name, resource, dnsEnabled: false }, cp));
};

t.test('one cluster, CLA and encoding per destination, frozen', async (t) => {
  const c = contents([dp('a', '10.0.0.1', 'web', 'db'), dp('b', '10.0.0.2', 'web', 'db'), dp('d', '10.0.0.3', 'db', 'web')]);
  const meshes = buildMeshSnapshots(c, '');
  const a = gen(c, meshes, 'a');
  const b = gen(c, meshes, 'b');
  const ca = a.get(TypeUrl.Cluster)!.get('db')!;
  t.equal(b.get(TypeUrl.Cluster)!.get('db'), ca, 'the same cluster object for both callers');
  t.equal(b.get(TypeUrl.ClusterLoadAssignment)!.get('db'), a.get(TypeUrl.ClusterLoadAssignment)!.get('db'), 'the same CLA object');
  t.ok(isSharedResource(ca) && Object.isFrozen(ca) && Object.isFrozen(ca.eds_cluster_config.eds_config), 'shared and deep-frozen');
  t.throws(() => {
    ca.lb_policy = 'MAGLEV';
  }, TypeError, 'a generator or hook that changes it fails loudly instead of changing every caller');
  t.notOk(isSharedResource(a.get(TypeUrl.Listener)!.get('inbound:10.0.0.1:8080')!), "per-proxy resources of a spec that is not frozen (not the store's) are not shared");

  const sa = Snapshot.fromResourceSet(a);
  const sb = Snapshot.fromResourceSet(b);
  t.equal(sb.of(TypeUrl.Cluster).get('db'), sa.of(TypeUrl.Cluster).get('db'), 'one SnapshotResource (one encoding) for both');
  // The identity-cached encoding is what encoding a plain copy gives.
  const copy = new Map([...a].map(([type, m]) => [type, new Map([...m].map(([n, r]) => [n, structuredClone(r)]))]));
  const plain = Snapshot.fromResourceSet(copy);
  for (const type of [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener]) {
    t.equal(plain.version(type), sa.version(type), `${type}: same version as an unshared copy`);
    for (const [n, r] of plain.of(type)) t.ok(Buffer.from(r.any.value).equals(Buffer.from(sa.of(type).get(n)!.any.value)), `${n}: same bytes`);
  }
});

t.test('a new mesh snapshot is never served old shared resources', async (t) => {
  const before = contents([dp('a', '10.0.0.1', 'web', 'db'), dp('d', '10.0.0.3', 'db', 'web', { version: 'v1' })]);
  const s1 = Snapshot.fromResourceSet(gen(before, buildMeshSnapshots(before, ''), 'a'));
  const eps = (s: Snapshot, n: string) => s.of(TypeUrl.ClusterLoadAssignment).get(n)!.json.endpoints.flatMap((l: any) => l.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.address));
  t.same(eps(s1, 'db'), ['10.0.0.3']);

  // Another db instance: the same proxy, the same service, a new CLA.
  const more = contents([...before.dataplanes, dp('e', '10.0.0.4', 'db', 'web', { version: 'v2' })]);
  const s2 = Snapshot.fromResourceSet(gen(more, buildMeshSnapshots(more, ''), 'a'));
  t.same(eps(s2, 'db'), ['10.0.0.3', '10.0.0.4'], "the new instance is in db's CLA");
  t.not(s2.version(TypeUrl.ClusterLoadAssignment), s1.version(TypeUrl.ClusterLoadAssignment), 'EDS version changed');
  t.equal(s2.version(TypeUrl.Cluster), s1.version(TypeUrl.Cluster), 'CDS unchanged');

  // A route that splits traffic to db by version: subsets replace the plain cluster.
  const route = res('TrafficRoute', 'split-db', {
    sources: [{ match: { 'kuma.io/service': '*' } }],
    destinations: [{ match: { 'kuma.io/service': 'db' } }],
    conf: { split: [{ weight: 50, destination: { 'kuma.io/service': 'db', version: 'v1' } }, { weight: 50, destination: { 'kuma.io/service': 'db', version: 'v2' } }] },
  }, 'default');
  const routed = contents(more.dataplanes, [route]);
  const s3 = Snapshot.fromResourceSet(gen(routed, buildMeshSnapshots(routed, ''), 'a'));
  const dbClusters = [...s3.of(TypeUrl.Cluster).keys()].filter((n) => n === 'db' || n.startsWith('db-'));
  t.equal(dbClusters.length, 2, "the route's two subsets, and no plain db cluster");
  t.notOk(dbClusters.includes('db'));
  t.same(dbClusters.map((n) => eps(s3, n)[0]).sort(), ['10.0.0.3', '10.0.0.4'], 'each subset has its instance');
  // Earlier snapshots are untouched.
  t.same(eps(s1, 'db'), ['10.0.0.3']);
  t.same(eps(s2, 'db'), ['10.0.0.3', '10.0.0.4']);
});

// What localEndpoints returned before the per-service index: a scan of every inbound.
function scanReference(dataplanes: Resource[], zone: string, selector: Tags) {
  const out: { address: string; port: number; zone: string }[] = [];
  for (const d of dataplanes) {
    const net = d.spec.networking ?? {};
    for (const inbound of net.inbound ?? []) {
      const tags = inboundTags(inbound, zone);
      const ready = !(inbound.health && inbound.health.ready === false) && (inbound.state === undefined || ['Ready', 'Ignored', ''].includes(inbound.state));
      if (!tagsMatch(selector, tags) || !ready) continue;
      const address = inbound.address ?? net.address;
      if (!address || !inbound.port) continue;
      out.push({ address, port: Number(inbound.port), zone: tags['kuma.io/zone'] ?? zone });
    }
  }
  return out;
}

t.test('the inbound index finds what a full scan finds', async (t) => {
  let s = 7;
  const r = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const services = ['web', 'db', 'cache', 'api'];
  let checked = 0;
  for (const zone of ['', 'zone-1']) {
    const dataplanes: Resource[] = [];
    for (let i = 0; i < 60; i++) {
      const inbound = Array.from({ length: 1 + Math.floor(r() * 3) }, (_, k) => {
        const ib: Record<string, any> = { port: r() < 0.05 ? 0 : 8000 + k, tags: { version: pick(['v1', 'v2']) } };
        if (r() < 0.9) ib.tags['kuma.io/service'] = pick(services);
        if (r() < 0.2) ib.tags['kuma.io/zone'] = pick(['zone-1', 'zone-2']);
        if (r() < 0.1) ib.health = { ready: false };
        if (r() < 0.1) ib.state = pick(['NotReady', 'Ready', 'Ignored']);
        if (r() < 0.1) ib.address = `10.1.0.${i}`;
        return ib;
      });
      dataplanes.push(res('Dataplane', `dp-${String(i).padStart(2, '0')}`, { networking: { ...(r() < 0.95 ? { address: `10.0.0.${i}` } : {}), inbound } }, 'default'));
    }
    const mesh = buildMeshSnapshots(contents(dataplanes), zone).get('default')!;
    const selectors: Tags[] = [{}];
    for (const svc of [...services, 'nobody', '*']) {
      selectors.push({ 'kuma.io/service': svc }, { 'kuma.io/service': svc, version: 'v2' }, { 'kuma.io/service': svc, version: '*' }, { 'kuma.io/service': svc, 'kuma.io/zone': 'zone-2' });
    }
    for (const sel of selectors) {
      const got = localEndpoints(mesh, zone, sel).map((e) => ({ address: e.address, port: e.port, zone: e.zone }));
      t.same(got, scanReference(mesh.dataplanes, zone, sel), `zone "${zone}" selector ${JSON.stringify(sel)}`);
      checked++;
    }
  }
  t.equal(checked, 2 * 25);
});

t.test('an embedded engine that predates the cluster idle timeout gets mesh clusters without it; other proxies keep it', async (t) => {
  const c = contents([dp('new', '10.0.0.1', 'web', 'api'), dp('old', '10.0.0.2', 'web', 'api'), dp('api', '10.0.0.3', 'api', 'web', { 'kuma.io/protocol': 'http' })]);
  const meshes = buildMeshSnapshots(c, '');
  const genAs = (name: string, clusterIdleTimeout: boolean) => {
    const resource = c.dataplanes.find((d) => d.meta.name === name)!;
    return generateResources(buildProxyContext(meshes, { kind: 'dataplane', mesh: 'default', name, resource, dnsEnabled: false, clusterIdleTimeout }, cp)).get(TypeUrl.Cluster)!.get('api')!;
  };
  // Old first, so that a shared (memoised) cluster of either kind would leak into the other.
  const old = genAs('old', false);
  const current = genAs('new', true);
  t.equal(old.typed_extension_protocol_options, undefined, 'no HttpProtocolOptions for the old engine (an HTTP/1.1 cluster had none before)');
  t.equal(current.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.common_http_protocol_options?.idle_timeout, '3600s', 'the idle timeout for the others');
  t.equal(genAs('old', false), old, 'each kind still shares one cluster object');
  t.equal(genAs('new', true), current);
  t.equal(genAs('new', false).typed_extension_protocol_options, undefined, 'the same dataplane as an old engine: without it');
});
