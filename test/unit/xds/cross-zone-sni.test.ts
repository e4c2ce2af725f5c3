/**
 * Cross-zone agreement: every SNI a zone-1 sidecar may send to zone-2's ingress (each
 * cluster whose endpoints include that ingress) is matched by a filter chain of the
 * ingress that zone-2's CP generates from the same policies, and that chain's cluster
 * holds exactly the zone-2 instances of the subset. A mismatch would blackhole traffic.
 */
import t from 'tap';
import type { Resource, ResourceType } from '../../../api/resource';
import { buildMeshSnapshots, type StoreContents } from '../../../cp/xds/generators/mesh-snapshot';
import { buildProxyContext } from '../../../cp/xds/generators/proxy-context';
import { generateResources } from '../../../cp/xds/generators/profiles';
import { TypeUrl } from '../../../proto/index';

const res = (type: ResourceType, name: string, spec: Record<string, any>, mesh?: string): Resource => ({ meta: { type, mesh, name, version: '1', creationTime: '', modificationTime: '' }, spec });
const mtls = { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } };
const identity = { certPem: 'c', keyPem: 'k', caPem: 'a' };

const policies = [
  res('TrafficRoute', 'route-all-default', { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }], conf: { destination: { 'kuma.io/service': '*' } } }, 'default'),
  res('TrafficRoute', 'billing-canary', {
    sources: [{ match: { 'kuma.io/service': '*' } }],
    destinations: [{ match: { 'kuma.io/service': 'billing' } }],
    conf: {
      split: [{ weight: 70, destination: { 'kuma.io/service': 'billing', version: 'v1' } }, { weight: 30, destination: { 'kuma.io/service': 'billing', version: 'v2', 'kuma.io/zone': 'zone-2' } }],
      http: [{ match: { path: { prefix: '/beta' } }, destination: { 'kuma.io/service': 'billing', version: 'v2' } }],
    },
  }, 'default'),
];

// Zone 2: billing v1 x2, v2 x1, and the ingress.
const zone2Dps = [
  res('Dataplane', 'billing-a', { networking: { address: '10.2.0.1', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'billing', version: 'v1', 'kuma.io/protocol': 'http', 'kuma.io/zone': 'zone-2' } }] } }, 'default'),
  res('Dataplane', 'billing-b', { networking: { address: '10.2.0.2', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'billing', version: 'v1', 'kuma.io/protocol': 'http', 'kuma.io/zone': 'zone-2' } }] } }, 'default'),
  res('Dataplane', 'billing-c', { networking: { address: '10.2.0.3', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'billing', version: 'v2', 'kuma.io/protocol': 'http', 'kuma.io/zone': 'zone-2' } }] } }, 'default'),
];
const ingress2 = res('ZoneIngress', 'ingress-2', {
  zone: 'zone-2',
  networking: { address: '10.2.0.100', advertisedAddress: '192.0.2.2', port: 10001, advertisedPort: 30001 },
  // What zone-2 publishes: one entry per distinct tag set, with its instance count.
  availableServices: [
    { mesh: 'default', instances: 2, tags: { 'kuma.io/service': 'billing', version: 'v1', 'kuma.io/protocol': 'http', 'kuma.io/zone': 'zone-2' } },
    { mesh: 'default', instances: 1, tags: { 'kuma.io/service': 'billing', version: 'v2', 'kuma.io/protocol': 'http', 'kuma.io/zone': 'zone-2' } },
  ],
});

t.test('sidecar SNIs toward an ingress are served by that ingress', async (t) => {
  const mesh = res('Mesh', 'default', mtls);
  const zone1: StoreContents = {
    meshes: [mesh],
    dataplanes: [res('Dataplane', 'users-1', { networking: { address: '10.1.0.1', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'users', 'kuma.io/zone': 'zone-1' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'billing' } }] } }, 'default')],
    zoneIngresses: [ingress2],
    trafficRoutes: policies,
    trafficPermissions: [],
    vips: {},
  };
  const zone2: StoreContents = { meshes: [mesh], dataplanes: zone2Dps, zoneIngresses: [ingress2], trafficRoutes: policies, trafficPermissions: [], vips: {} };

  const sidecar = generateResources(buildProxyContext(buildMeshSnapshots(zone1, 'zone-1'), { kind: 'dataplane', mesh: 'default', name: 'users-1', resource: zone1.dataplanes[0], dnsEnabled: false }, { zone: 'zone-1', vipPort: 80 }, identity));
  const ing = generateResources(buildProxyContext(buildMeshSnapshots(zone2, 'zone-2'), { kind: 'ingress', mesh: '', name: 'ingress-2', resource: ingress2, dnsEnabled: false }, { zone: 'zone-2', vipPort: 80 }));

  const chains = new Map<string, string>();
  for (const l of ing.get(TypeUrl.Listener)!.values()) for (const fc of l.filter_chains) chains.set(fc.filter_chain_match.server_names[0], fc.filters[0].typed_config.cluster);
  const ingressEndpoints = (cluster: string) =>
    (ing.get(TypeUrl.ClusterLoadAssignment)!.get(cluster)?.endpoints ?? []).flatMap((l: any) => l.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.address)).sort();

  const expected: Record<string, string[]> = {
    'billing{mesh=default,version=v1}': ['10.2.0.1', '10.2.0.2'],
    'billing{kuma.io/zone=zone-2,mesh=default,version=v2}': ['10.2.0.3'],
    'billing{mesh=default,version=v2}': ['10.2.0.3'],
  };
  let checked = 0;
  for (const c of sidecar.get(TypeUrl.Cluster)!.values()) {
    const cla = sidecar.get(TypeUrl.ClusterLoadAssignment)!.get(c.name);
    const viaIngress = (cla?.endpoints ?? []).some((l: any) => l.lb_endpoints.some((e: any) => e.endpoint.address.socket_address.address === '192.0.2.2'));
    if (!viaIngress) continue;
    const sni = c.transport_socket.typed_config.sni;
    t.ok(chains.has(sni), `ingress has a filter chain for ${sni}`);
    t.same(ingressEndpoints(chains.get(sni)!), expected[sni], `${sni} reaches exactly its zone-2 instances`);
    checked++;
  }
  t.equal(checked, 3, 'three subsets cross the zone border (v1, v2 in zone-2, v2 for /beta)');
});
