/**
 * Endpoints of a service subset, and their ClusterLoadAssignment.
 *
 * Local endpoints are the mesh's dataplane inbounds (address + inbound port: the real
 * port, whatever port the caller dialled - "port auto-resolution"). Endpoints in other
 * zones are those zones' ingresses (advertised address and port), one per ingress,
 * weighted by how many instances of the subset sit behind it.
 *
 * Priorities: with Mesh `routing.localityAwareLoadBalancing`, the local zone is
 * priority 0 and other zones priority 1, so traffic stays in the zone while it has
 * healthy endpoints. Without it everything is priority 0 and each locality is weighted
 * by its endpoint weights (1 per local instance, `instances` per ingress), so traffic
 * spreads across zones in proportion to instances - for Envoy (endpoint weights) and
 * for gRPC (locality weights, gRFC A27) alike.
 */
import { SERVICE_TAG, ZONE_TAG, PROTOCOL_TAG, WILDCARD, tagsMatch, type Tags } from '../../../lib/naming/tags';
import type { MeshSnapshot } from './types';

/** One upstream host. */
export interface Endpoint {
  address: string;
  port: number;
  weight: number;
  zone: string;
  /** True for this zone's dataplanes; false for other zones' ingresses. */
  local: boolean;
  tags: Tags;
}

/** Tags of an inbound with the zone tag filled in (the zone CP adds it; older records may lack it). */
export function inboundTags(inbound: Record<string, any>, zone: string): Tags {
  const tags: Tags = { ...(inbound.tags ?? {}) };
  if (zone && tags[ZONE_TAG] === undefined) tags[ZONE_TAG] = zone;
  return tags;
}

function inboundReady(inbound: Record<string, any>): boolean {
  if (inbound.health && inbound.health.ready === false) return false;
  return inbound.state === undefined || inbound.state === 'Ready' || inbound.state === 'Ignored' || inbound.state === '';
}

// Per mesh snapshot (rebuilt on every store change), endpoints by selector: every proxy
// of a mesh asks for the same subsets, and scanning all dataplanes each time is O(n^2).
const memo = new WeakMap<MeshSnapshot, Map<string, unknown>>();
function memoized<T>(mesh: MeshSnapshot, key: string, compute: () => T): T {
  let m = memo.get(mesh);
  if (!m) memo.set(mesh, (m = new Map()));
  if (!m.has(key)) m.set(key, compute());
  return m.get(key) as T;
}
const selectorKey = (s: Tags) => JSON.stringify(Object.entries(s).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** This zone's endpoints of a subset (`selector` always holds the service tag). Do not mutate the result. */
export function localEndpoints(mesh: MeshSnapshot, zone: string, selector: Tags): Endpoint[] {
  return memoized(mesh, `local\u0000${zone}\u0000${selectorKey(selector)}`, () => scanLocal(mesh, zone, selector));
}

/** One ready, addressable inbound of the mesh, with its tags resolved for this zone. */
interface IndexedInbound {
  address: string;
  port: number;
  tags: Tags;
}

/** Ready inbounds in dataplane order: all of them, and by service. */
interface InboundIndex {
  all: IndexedInbound[];
  byService: Map<string, IndexedInbound[]>;
}

/**
 * Every selector names its service, so indexing inbounds by service once per mesh
 * snapshot turns each subset lookup from a scan of every dataplane of the mesh into a
 * scan of that service's instances (a mesh-wide route change asks for two subsets of
 * every service: O(services x dataplanes) became O(dataplanes)).
 */
function inboundIndex(mesh: MeshSnapshot, zone: string): InboundIndex {
  return memoized(mesh, `index\u0000${zone}`, () => {
    const all: IndexedInbound[] = [];
    const byService = new Map<string, IndexedInbound[]>();
    for (const dp of mesh.dataplanes) {
      const net = dp.spec.networking ?? {};
      for (const inbound of net.inbound ?? []) {
        if (!inboundReady(inbound)) continue;
        const address: string | undefined = inbound.address ?? net.address;
        if (!address || !inbound.port) continue;
        const e: IndexedInbound = { address, port: Number(inbound.port), tags: inboundTags(inbound, zone) };
        all.push(e);
        const svc = e.tags[SERVICE_TAG];
        if (svc === undefined) continue;
        const bucket = byService.get(svc);
        if (bucket) bucket.push(e);
        else byService.set(svc, [e]);
      }
    }
    return { all, byService };
  });
}

function scanLocal(mesh: MeshSnapshot, zone: string, selector: Tags): Endpoint[] {
  const index = inboundIndex(mesh, zone);
  const svc = selector[SERVICE_TAG];
  const candidates = svc === undefined || svc === WILDCARD ? index.all : index.byService.get(svc) ?? [];
  const out: Endpoint[] = [];
  for (const e of candidates) {
    if (!tagsMatch(selector, e.tags)) continue;
    out.push({ address: e.address, port: e.port, weight: 1, zone: e.tags[ZONE_TAG] ?? zone, local: true, tags: e.tags });
  }
  return out;
}

/** Other zones' ingresses that front instances of the subset. Do not mutate the result. */
export function remoteEndpoints(mesh: MeshSnapshot, selector: Tags): Endpoint[] {
  return memoized(mesh, `remote\u0000${selectorKey(selector)}`, () => scanRemote(mesh, selector));
}

function scanRemote(mesh: MeshSnapshot, selector: Tags): Endpoint[] {
  const out: Endpoint[] = [];
  for (const ing of mesh.remoteIngresses) {
    const net = ing.spec.networking ?? {};
    const address: string | undefined = net.advertisedAddress ?? net.address;
    const port = Number(net.advertisedPort ?? net.port ?? 0);
    if (!address || !port) continue;
    let instances = 0;
    let tags: Tags = {};
    for (const s of ing.spec.availableServices ?? []) {
      if ((s.mesh ?? 'default') !== mesh.name || !tagsMatch(selector, s.tags ?? {})) continue;
      instances += Number(s.instances ?? 1) || 1;
      tags = s.tags;
    }
    if (instances > 0) out.push({ address, port, weight: instances, zone: ing.spec.zone, local: false, tags });
  }
  return out;
}

/** All endpoints of a subset, local first. */
export function endpointsOf(mesh: MeshSnapshot, zone: string, selector: Tags): Endpoint[] {
  return [...localEndpoints(mesh, zone, selector), ...remoteEndpoints(mesh, selector)];
}

/**
 * The protocol of a service: `kuma.io/protocol` when every instance (local and in other
 * zones) agrees on one of http/http2/grpc, else tcp (a safe byte stream for all).
 */
export function serviceProtocol(mesh: MeshSnapshot, zone: string, service: string): 'tcp' | 'http' | 'http2' | 'grpc' {
  return memoized(mesh, `protocol\u0000${zone}\u0000${service}`, () => scanProtocol(mesh, zone, service));
}

function scanProtocol(mesh: MeshSnapshot, zone: string, service: string): 'tcp' | 'http' | 'http2' | 'grpc' {
  const seen = new Set<string>();
  const sel = { [SERVICE_TAG]: service };
  for (const e of localEndpoints(mesh, zone, sel)) seen.add(e.tags[PROTOCOL_TAG] ?? 'tcp');
  for (const ing of mesh.remoteIngresses) {
    for (const s of ing.spec.availableServices ?? []) {
      if ((s.mesh ?? 'default') === mesh.name && s.tags?.[SERVICE_TAG] === service) seen.add(s.tags[PROTOCOL_TAG] ?? 'tcp');
    }
  }
  if (seen.size !== 1) return 'tcp';
  const p = [...seen][0];
  return p === 'http' || p === 'http2' || p === 'grpc' ? p : 'tcp';
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A ClusterLoadAssignment (proto3 JSON) for the endpoints, grouped by zone locality; sorted. */
export function buildClusterLoadAssignment(clusterName: string, endpoints: Endpoint[], localityAware: boolean): Record<string, any> {
  const groups = new Map<string, { priority: number; zone: string; eps: Endpoint[] }>();
  for (const e of endpoints) {
    const priority = localityAware && !e.local ? 1 : 0;
    const key = `${priority}\u0000${e.zone}`;
    const g = groups.get(key) ?? { priority, zone: e.zone, eps: [] };
    g.eps.push(e);
    groups.set(key, g);
  }
  // Priorities must be contiguous from 0 (Envoy's EDS doc; gRPC NACKs gaps, gRFC A27):
  // with no local endpoint, other zones move up to priority 0.
  const used = [...new Set([...groups.values()].map((g) => g.priority))].sort((a, b) => a - b);
  for (const g of groups.values()) g.priority = used.indexOf(g.priority);
  const localities = [...groups.values()]
    .sort((a, b) => a.priority - b.priority || cmp(a.zone, b.zone))
    .map((g) => {
      const eps = [...g.eps].sort((a, b) => cmp(a.address, b.address) || a.port - b.port);
      const loc: Record<string, any> = {
        locality: { zone: g.zone },
        lb_endpoints: eps.map((e) => ({
          endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
          load_balancing_weight: e.weight,
        })),
        load_balancing_weight: eps.reduce((s, e) => s + e.weight, 0),
      };
      if (g.priority) loc.priority = g.priority;
      return loc;
    });
  return { cluster_name: clusterName, endpoints: localities };
}
