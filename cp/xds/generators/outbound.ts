/**
 * Outbound: listeners for the services a dataplane calls, and behind them the subset
 * clusters (EDS over ADS, mesh mTLS with Kuma SNI) and their endpoints.
 *
 * Which listeners: every explicit `networking.outbound`, plus one listener per service
 * on VIP:vipPort when the dataplane uses transparent proxying or runs kuma-dp's DNS
 * (limited by `transparentProxying.reachableServices` when set). Both kinds of
 * dataplane need the VIPs to resolve to something that listens; the rest keep only
 * their explicit outbounds, so on a shared host at most the opted-in sidecar binds VIPs.
 */
import { TypeUrl } from '../../../proto/index';
import { SERVICE_TAG } from '../../../lib/naming/tags';
import { sniFor } from '../../../lib/naming/sni';
import { buildClusterLoadAssignment, endpointsOf, inboundTags, serviceProtocol } from './endpoints';
import { outboundListenerName, outboundRouteName } from './names';
import { selectTrafficRoute } from './policy-match';
import { buildRouteConfiguration, hcmWithRds, resolveRoute, routeSubsets, tcpProxy, type ResolvedRoute } from './routes';
import { usesTransparentProxy } from './transparent-proxy';
import { adsConfigSource, http2ProtocolOptions, upstreamTlsSocket } from './tls-contexts';
import { addResource, emptyResourceSet, type ProxyContext, type ResourceSet } from './types';

/** Tag sets a proxy presents as a traffic source (its inbounds; a bare name when it has none). */
export function sourceTagSets(ctx: ProxyContext): Record<string, string>[] {
  const net = ctx.dataplane?.networking;
  const sets = (net?.inbound ?? []).map((i: Record<string, any>) => inboundTags(i, ctx.cp.zone));
  if (net?.gateway?.tags) sets.push({ ...net.gateway.tags });
  return sets.length ? sets : [{ [SERVICE_TAG]: ctx.name }];
}

/**
 * Passive health checking on every mesh cluster of a sidecar (Kuma creates a default
 * circuit breaker with each mesh; this is ours). An instance whose app is down still
 * accepts connections on its sidecar and answers 503, so only answers can tell: five
 * 5xx in a row eject it for 30 s (times its ejections in a row). At most half of a
 * service is ejected, so one of two instances can go. Success-rate ejection is off
 * explicitly: Envoy enables it by default, the embedded engine does not implement it,
 * and both must treat the same config alike.
 */
export function defaultOutlierDetection(): Record<string, any> {
  return {
    consecutive_5xx: 5,
    enforcing_consecutive_5xx: 100,
    interval: '5s',
    base_ejection_time: '30s',
    max_ejection_percent: 50,
    enforcing_success_rate: 0,
  };
}

/** What a destination service turned into: its route and whether it is HTTP. */
export interface Destination {
  service: string;
  route: ResolvedRoute;
  http: boolean;
}

/**
 * Clusters, CLAs and (for HTTP) the RouteConfiguration of one destination service.
 * `tls` is false for proxyless gRPC clients, which speak plaintext and only round robin.
 */
export function generateDestination(ctx: ProxyContext, service: string, set: ResourceSet, tls: boolean): Destination {
  const mesh = ctx.meshSnapshot!;
  const route = resolveRoute(selectTrafficRoute(mesh.trafficRoutes, sourceTagSets(ctx), service), service);
  const protocol = serviceProtocol(mesh, ctx.cp.zone, service);
  const http = protocol !== 'tcp';
  for (const sub of routeSubsets(route)) {
    const cluster: Record<string, any> = {
      name: sub.cluster,
      type: 'EDS',
      eds_cluster_config: { eds_config: adsConfigSource() },
      connect_timeout: '5s',
      // gRPC clients implement only round robin (and ring hash) of Envoy's policies.
      lb_policy: tls ? route.lbPolicy : 'ROUND_ROBIN',
    };
    // Proxyless gRPC (no tls) implements only success-rate and failure-percentage ejection (gRFC A50).
    if (tls) cluster.outlier_detection = defaultOutlierDetection();
    if (protocol === 'http2' || protocol === 'grpc') cluster.typed_extension_protocol_options = http2ProtocolOptions();
    if (tls && mesh.mtls) cluster.transport_socket = upstreamTlsSocket(mesh.name, sub.service, sniFor(mesh.name, sub.service, sub.tags));
    addResource(set, TypeUrl.Cluster, cluster);
    addResource(set, TypeUrl.ClusterLoadAssignment, buildClusterLoadAssignment(sub.cluster, endpointsOf(mesh, ctx.cp.zone, sub.tags), mesh.localityAware));
  }
  if (http) addResource(set, TypeUrl.RouteConfiguration, buildRouteConfiguration(outboundRouteName(service), service, route));
  return { service, route, http };
}

/** Listener (proto3 JSON) of one outbound address:port to a destination. */
function outboundListener(address: string, port: number, d: Destination, bind: boolean): Record<string, any> {
  const name = outboundListenerName(address, port);
  const filter = d.http ? hcmWithRds(name, outboundRouteName(d.service)) : tcpProxy(name, d.route.split);
  return {
    name,
    address: { socket_address: { address, port_value: port } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ filters: [filter] }],
    ...(bind ? {} : { bind_to_port: false }),
  };
}

/** Whether this dataplane gets a listener per service on its VIP. */
export function wantsVipListeners(ctx: ProxyContext): boolean {
  return ctx.dnsEnabled || !!ctx.dataplane?.networking?.transparentProxying;
}

/** Outbound listeners, clusters, endpoints and routes of a dataplane. */
export function generateOutbound(ctx: ProxyContext): ResourceSet {
  const set = emptyResourceSet();
  const mesh = ctx.meshSnapshot;
  const net = ctx.dataplane?.networking;
  if (!mesh || !net) return set;
  const targets: { address: string; port: number; service: string }[] = [];
  for (const o of net.outbound ?? []) {
    const service: string | undefined = o.tags?.[SERVICE_TAG] ?? o.service;
    if (!service || !o.port) continue;
    targets.push({ address: o.address ?? '127.0.0.1', port: Number(o.port), service });
  }
  if (wantsVipListeners(ctx)) {
    const reachable: string[] | undefined = net.transparentProxying?.reachableServices;
    const allow = reachable && reachable.length ? new Set(reachable) : undefined;
    for (const service of Object.keys(mesh.vips).sort()) {
      if (allow && !allow.has(service)) continue;
      targets.push({ address: mesh.vips[service], port: ctx.cp.vipPort, service });
    }
  }
  const seen = new Set<string>();
  const destinations = new Map<string, Destination>();
  for (const t of targets) {
    const key = `${t.address}:${t.port}`;
    if (seen.has(key)) continue; // an explicit outbound wins over a VIP on the same address
    seen.add(key);
    let d = destinations.get(t.service);
    if (!d) {
      d = generateDestination(ctx, t.service, set, true);
      destinations.set(t.service, d);
    }
    if (d.route.split.length === 0 && !d.http) continue; // nowhere to send bytes
    addResource(set, TypeUrl.Listener, outboundListener(t.address, t.port, d, !usesTransparentProxy(ctx)));
  }
  return set;
}
