/**
 * Inbound: one listener per Dataplane inbound on its address:port. With mTLS the
 * listener terminates mesh TLS (client certificate required, SPIFFE ID of this mesh),
 * then a network RBAC filter allows only the sources that the governing
 * TrafficPermission names, then the bytes go to the application on
 * 127.0.0.1:servicePort - through tcp_proxy, or through http_connection_manager for
 * `kuma.io/protocol` http, http2 and grpc.
 */
import { ExtensionTypeUrl, TypeUrl } from '../../../proto/index';
import { SERVICE_TAG, PROTOCOL_TAG, WILDCARD } from '../../../lib/naming/tags';
import { kumaUris, spiffeId, spiffePrefix } from '../../../lib/naming/spiffe';
import { inboundTags } from './endpoints';
import { inboundListenerName, inboundRouteName, localClusterName, statPrefix } from './names';
import { selectTrafficPermission } from './policy-match';
import { routerFilter } from './routes';
import { usesTransparentProxy } from './transparent-proxy';
import { downstreamTlsSocket, http2ProtocolOptions } from './tls-contexts';
import { addResource, emptyResourceSet, sharedResource, type MeshSnapshot, type ProxyContext, type ResourceSet } from './types';

function principalsOf(mesh: string, sources: { match?: Record<string, string> }[]): Record<string, any>[] {
  const out: Record<string, any>[] = [];
  for (const s of sources) {
    const match = s.match ?? {};
    const svc = match[SERVICE_TAG];
    const ids: Record<string, any>[] = [];
    if (svc === undefined || svc === WILDCARD) ids.push({ authenticated: { principal_name: { prefix: spiffePrefix(mesh) } } });
    else ids.push({ authenticated: { principal_name: { exact: spiffeId(mesh, svc) } } });
    // Other tags are carried as `kuma://<tag>/<value>` URI SANs (Kuma's convention).
    const extra = Object.fromEntries(Object.entries(match).filter(([k, v]) => k !== SERVICE_TAG && v !== WILDCARD));
    for (const uri of kumaUris(extra)) ids.push({ authenticated: { principal_name: { exact: uri } } });
    out.push(ids.length === 1 ? ids[0] : { and_ids: { ids } });
  }
  return out;
}

/** Network RBAC filter for an inbound: no governing permission means no policy, which denies everything. */
export function rbacFilter(mesh: MeshSnapshot, tags: Record<string, string>, stat: string): Record<string, any> {
  const perm = selectTrafficPermission(mesh.trafficPermissions, tags);
  const policies: Record<string, any> = {};
  if (perm) {
    const principals = principalsOf(mesh.name, perm.spec.sources ?? []);
    if (principals.length) policies[perm.meta.name] = { permissions: [{ any: true }], principals };
  }
  return {
    name: 'envoy.filters.network.rbac',
    typed_config: { '@type': ExtensionTypeUrl.NetworkRbac, stat_prefix: `${statPrefix(stat)}.`, rules: { action: 'ALLOW', policies } },
  };
}

// Most instances of a mesh run their app on the same port, so their `localhost:<port>`
// clusters are identical: one shared (frozen, encoded once) object per mesh snapshot.
const localClusters = new WeakMap<MeshSnapshot, Map<string, Record<string, any>>>();

function localClusterOf(mesh: MeshSnapshot, cluster: string, serviceAddress: string, servicePort: number, protocol: string): Record<string, any> {
  let memo = localClusters.get(mesh);
  if (!memo) localClusters.set(mesh, (memo = new Map()));
  const key = `${serviceAddress}\u0000${servicePort}\u0000${protocol}`;
  const hit = memo.get(key);
  if (hit) return hit;
  const localCluster: Record<string, any> = {
    name: cluster,
    type: 'STATIC',
    connect_timeout: '5s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: cluster,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: serviceAddress, port_value: servicePort } } } }] }],
    },
  };
  if (protocol === 'http2' || protocol === 'grpc') localCluster.typed_extension_protocol_options = http2ProtocolOptions();
  memo.set(key, sharedResource(localCluster));
  return localCluster;
}

/** Inbound listeners and their `localhost:<port>` clusters. */
export function generateInbound(ctx: ProxyContext): ResourceSet {
  const set = emptyResourceSet();
  const mesh = ctx.meshSnapshot;
  const net = ctx.dataplane?.networking;
  if (!mesh || !net) return set;
  for (const inbound of net.inbound ?? []) {
    const address: string = inbound.address ?? net.address;
    const port = Number(inbound.port);
    const servicePort = Number(inbound.servicePort ?? inbound.port);
    const serviceAddress: string = inbound.serviceAddress ?? '127.0.0.1';
    const tags = inboundTags(inbound, ctx.cp.zone);
    const service = tags[SERVICE_TAG];
    const protocol = tags[PROTOCOL_TAG] ?? 'tcp';
    const isHttp = protocol === 'http' || protocol === 'http2' || protocol === 'grpc';
    const name = inboundListenerName(address, port);
    const cluster = localClusterName(servicePort);

    addResource(set, TypeUrl.Cluster, localClusterOf(mesh, cluster, serviceAddress, servicePort, protocol));

    const filters: Record<string, any>[] = [];
    if (mesh.mtls) filters.push(rbacFilter(mesh, tags, name));
    if (isHttp) {
      filters.push({
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': ExtensionTypeUrl.HttpConnectionManager,
          stat_prefix: statPrefix(cluster),
          codec_type: 'AUTO',
          route_config: {
            name: inboundRouteName(service),
            validate_clusters: false,
            virtual_hosts: [{ name: service, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster, timeout: '0s' } }] }],
          },
          http_filters: [routerFilter()],
        },
      });
    } else {
      filters.push({ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': ExtensionTypeUrl.TcpProxy, stat_prefix: statPrefix(cluster), cluster } });
    }
    const chain: Record<string, any> = { filters };
    if (mesh.mtls) chain.transport_socket = downstreamTlsSocket(mesh.name);
    addResource(set, TypeUrl.Listener, {
      name,
      address: { socket_address: { address, port_value: port } },
      traffic_direction: 'INBOUND',
      filter_chains: [chain],
      ...(usesTransparentProxy(ctx) ? { bind_to_port: false } : {}),
    });
  }
  return set;
}
