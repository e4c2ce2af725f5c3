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

// Per Dataplane spec: the store hands out the same frozen spec object until the Dataplane
// is written again, and an inbound listener depends on little else (see inboundKey). A
// mesh-wide change then reuses every proxy's inbound resources instead of rebuilding
// them, and the snapshot layer finds their encodings by identity instead of by content
// (JSON.stringify of each listener per proxy per change).
const inboundSets = new WeakMap<object, { key: string; set: ResourceSet }>();

/** True when the spec, as far as generateInbound reads it, cannot change (the stores deep-freeze what they hand out). */
function immutableSpec(spec: Record<string, any>, net: Record<string, any>): boolean {
  if (!Object.isFrozen(spec) || !Object.isFrozen(net)) return false;
  const inbound = net.inbound ?? [];
  if (!Object.isFrozen(inbound)) return false;
  for (const i of inbound) if (!Object.isFrozen(i) || (i.tags !== undefined && !Object.isFrozen(i.tags))) return false;
  return net.transparentProxying === undefined || Object.isFrozen(net.transparentProxying);
}

/** Inbound listeners and their `localhost:<port>` clusters (a shared, read-only set). */
export function generateInbound(ctx: ProxyContext): ResourceSet {
  const mesh = ctx.meshSnapshot;
  const net = ctx.dataplane?.networking;
  if (!mesh || !net) return emptyResourceSet();
  const spec = ctx.dataplane!;
  // What the result depends on besides the spec: the zone (inbound tags), the mesh's name
  // and mTLS (TLS socket, SPIFFE IDs) and, with mTLS, the RBAC filter each inbound gets
  // from the governing TrafficPermission - compared by content, never by store version.
  const rbac: Record<string, any>[] | undefined = mesh.mtls ? (net.inbound ?? []).map((inbound: Record<string, any>) => rbacFilter(mesh, inboundTags(inbound, ctx.cp.zone), inboundListenerName(inbound.address ?? net.address, Number(inbound.port)))) : undefined;
  if (!immutableSpec(spec, net)) return buildInbound(ctx, mesh, net, rbac, false);
  const key = JSON.stringify([ctx.cp.zone, mesh.name, mesh.mtls, rbac ?? null]);
  const hit = inboundSets.get(spec);
  if (hit && hit.key === key) return hit.set;
  const set = buildInbound(ctx, mesh, net, rbac, true);
  inboundSets.set(spec, { key, set });
  return set;
}

/** `shared`: the listeners outlive this call (memoized), so they are frozen and encoded by identity. */
function buildInbound(ctx: ProxyContext, mesh: MeshSnapshot, net: Record<string, any>, rbac: Record<string, any>[] | undefined, shared: boolean): ResourceSet {
  const set = emptyResourceSet();
  (net.inbound ?? []).forEach((inbound: Record<string, any>, i: number) => {
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
    if (rbac) filters.push(rbac[i]);
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
    const listener = {
      name,
      address: { socket_address: { address, port_value: port } },
      traffic_direction: 'INBOUND',
      filter_chains: [chain],
      ...(usesTransparentProxy(ctx) ? { bind_to_port: false } : {}),
    };
    addResource(set, TypeUrl.Listener, shared ? sharedResource(listener) : listener);
  });
  return set;
}
