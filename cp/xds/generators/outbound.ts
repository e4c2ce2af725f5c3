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
import { adsConfigSource, http2ProtocolOptions, meshHttpProtocolOptions, upstreamTlsSocket } from './tls-contexts';
import type { Resource } from '../../../api/resource';
import { addResource, deepFreeze, emptyResourceSet, sharedResource, type MeshSnapshot, type ProxyContext, type ResourceSet, type XdsTypeUrl } from './types';

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

/** A destination's resources, built once per mesh snapshot and shared (frozen) by every proxy that calls it. */
interface BuiltDestination {
  destination: Destination;
  resources: [XdsTypeUrl, Record<string, any>][];
  /** Outbound listeners to this destination by `address:port:bind` (explicit outbounds repeat across proxies). */
  listeners: Map<string, Record<string, any>>;
}

// Per mesh snapshot (rebuilt on every store change). What a destination turns into
// depends only on the mesh, the zone, the service, the TrafficRoute that applies and
// whether TLS is on - not on the calling proxy - so the thousands of proxies of a mesh
// that call the same service share one cluster, CLA and route, and one encoding of each.
const destinations = new WeakMap<MeshSnapshot, Map<string, BuiltDestination>>();

function buildDestination(mesh: MeshSnapshot, zone: string, service: string, routeResource: Resource | undefined, tls: boolean, idleTimeout: boolean): BuiltDestination {
  const route = resolveRoute(routeResource, service);
  const protocol = serviceProtocol(mesh, zone, service);
  const http = protocol !== 'tcp';
  const resources: [XdsTypeUrl, Record<string, any>][] = [];
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
    const h2 = protocol === 'http2' || protocol === 'grpc';
    if (http && tls && idleTimeout) cluster.typed_extension_protocol_options = meshHttpProtocolOptions(h2);
    else if (h2) cluster.typed_extension_protocol_options = http2ProtocolOptions();
    if (tls && mesh.mtls) cluster.transport_socket = upstreamTlsSocket(mesh.name, sub.service, sniFor(mesh.name, sub.service, sub.tags));
    resources.push([TypeUrl.Cluster, sharedResource(cluster)]);
    resources.push([TypeUrl.ClusterLoadAssignment, sharedResource(buildClusterLoadAssignment(sub.cluster, endpointsOf(mesh, zone, sub.tags), mesh.localityAware))]);
  }
  if (http) resources.push([TypeUrl.RouteConfiguration, sharedResource(buildRouteConfiguration(outboundRouteName(service), service, route))]);
  return { destination: deepFreeze({ service, route, http }), resources, listeners: new Map() };
}

/**
 * Clusters, CLAs and (for HTTP) the RouteConfiguration of one destination service.
 * `tls` is false for proxyless gRPC clients, which speak plaintext and only round robin.
 * The resources added to `set` are shared and frozen: copy before changing them.
 */
export function generateDestination(ctx: ProxyContext, service: string, set: ResourceSet, tls: boolean, sources: Record<string, string>[] = sourceTagSets(ctx)): Destination {
  return addDestination(ctx, service, set, tls, sources).destination;
}

function addDestination(ctx: ProxyContext, service: string, set: ResourceSet, tls: boolean, sources: Record<string, string>[]): BuiltDestination {
  const mesh = ctx.meshSnapshot!;
  const routeResource = selectTrafficRoute(mesh.trafficRoutes, sources, service);
  let memo = destinations.get(mesh);
  if (!memo) destinations.set(mesh, (memo = new Map()));
  // Route names are unique within a mesh snapshot; none selected is ''.
  const key = `${tls ? 1 : 0}${ctx.clusterIdleTimeout ? 1 : 0}\u0000${ctx.cp.zone}\u0000${routeResource?.meta.name ?? ''}\u0000${service}`;
  let built = memo.get(key);
  if (!built) memo.set(key, (built = buildDestination(mesh, ctx.cp.zone, service, routeResource, tls, ctx.clusterIdleTimeout)));
  for (const [type, r] of built.resources) addResource(set, type, r);
  return built;
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

// Per mesh snapshot, like `destinations`: a dataplane's outbound resources depend on the
// mesh, this CP's settings and a few fields of its own (explicit outbounds, transparent
// proxying, DNS, the tags it calls from), never on its name or address. Replicas of a
// workload agree on all of these, so their outbound sets are built once and shared: a
// mesh-wide change then builds one set per kind of workload, not one per proxy. The
// sets are read-only (profiles merge them into each proxy's own set).
const outboundSets = new WeakMap<MeshSnapshot, Map<string, ResourceSet>>();

// The tag keys the mesh's TrafficRoutes select sources by. A route matches a source
// tag set by these keys alone (policy-match rankSelector), so two proxies whose tags
// agree on them get the same routes: the outbound set is keyed by that projection
// (replicas differing in a pod-specific tag still share).
const routeSourceKeys = new WeakMap<MeshSnapshot, string[]>();

function sourceKeysOf(mesh: MeshSnapshot): string[] {
  let keys = routeSourceKeys.get(mesh);
  if (!keys) {
    const all = new Set<string>();
    for (const r of mesh.trafficRoutes) for (const sel of r.spec.sources ?? []) for (const k of Object.keys(sel?.match ?? {})) all.add(k);
    routeSourceKeys.set(mesh, (keys = [...all].sort()));
  }
  return keys;
}

/** Each tag set reduced to the keys routes select by (absent keys stay absent). */
function projectSources(sources: Record<string, string>[], keys: string[]): Record<string, string>[] {
  return sources.map((tags) => {
    const out: Record<string, string> = {};
    for (const k of keys) if (tags[k] !== undefined) out[k] = tags[k];
    return out;
  });
}

// The outbound key of a Dataplane spec (the store's frozen object, replaced on every
// write), with what else it was computed from: JSON.stringify of a proxy's outbounds
// and tags on every regeneration was a tenth of a mesh-wide change's generation time.
const outboundKeys = new WeakMap<object, { zone: string; vipPort: number; dns: boolean; idle: boolean; name: string; sourceKeys: string[]; key: string }>();

function immutableNetworking(net: Record<string, any>): boolean {
  // The stores deep-freeze what they hand out; a caller's own object may change under us.
  return Object.isFrozen(net) && (net.outbound === undefined || Object.isFrozen(net.outbound)) && (net.inbound === undefined || Object.isFrozen(net.inbound));
}

function outboundKey(ctx: ProxyContext, mesh: MeshSnapshot, net: Record<string, any>): string {
  const sourceKeys = sourceKeysOf(mesh);
  const cacheable = immutableNetworking(net);
  const hit = cacheable ? outboundKeys.get(net) : undefined;
  if (hit && hit.zone === ctx.cp.zone && hit.vipPort === ctx.cp.vipPort && hit.dns === ctx.dnsEnabled && hit.idle === ctx.clusterIdleTimeout && hit.name === ctx.name && sameStrings(hit.sourceKeys, sourceKeys)) return hit.key;
  const key = JSON.stringify([net.outbound ?? null, net.transparentProxying ?? null, ctx.dnsEnabled, ctx.clusterIdleTimeout, projectSources(sourceTagSets(ctx), sourceKeys), ctx.cp.zone, ctx.cp.vipPort]);
  if (cacheable) outboundKeys.set(net, { zone: ctx.cp.zone, vipPort: ctx.cp.vipPort, dns: ctx.dnsEnabled, idle: ctx.clusterIdleTimeout, name: ctx.name, sourceKeys, key });
  return key;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Outbound listeners, clusters, endpoints and routes of a dataplane (a shared, read-only set). */
export function generateOutbound(ctx: ProxyContext): ResourceSet {
  const mesh = ctx.meshSnapshot;
  const net = ctx.dataplane?.networking;
  if (!mesh || !net) return emptyResourceSet();
  const key = outboundKey(ctx, mesh, net);
  let memo = outboundSets.get(mesh);
  if (!memo) outboundSets.set(mesh, (memo = new Map()));
  let set = memo.get(key);
  if (!set) memo.set(key, (set = buildOutbound(ctx, mesh, net, sourceTagSets(ctx))));
  return set;
}

function buildOutbound(ctx: ProxyContext, mesh: MeshSnapshot, net: Record<string, any>, sources: Record<string, string>[]): ResourceSet {
  const set = emptyResourceSet();
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
  const byService = new Map<string, BuiltDestination>();
  const bind = !usesTransparentProxy(ctx);
  for (const t of targets) {
    const key = `${t.address}:${t.port}`;
    if (seen.has(key)) continue; // an explicit outbound wins over a VIP on the same address
    seen.add(key);
    let built = byService.get(t.service);
    if (!built) {
      built = addDestination(ctx, t.service, set, true, sources);
      byService.set(t.service, built);
    }
    const d = built.destination;
    if (d.route.split.length === 0 && !d.http) continue; // nowhere to send bytes
    const lkey = `${key}:${bind}`;
    let listener = built.listeners.get(lkey);
    if (!listener) built.listeners.set(lkey, (listener = sharedResource(outboundListener(t.address, t.port, d, bind))));
    addResource(set, TypeUrl.Listener, listener);
  }
  return set;
}
