/**
 * Shapes shared by every xDS generator: the inputs (a mesh snapshot and one proxy)
 * and the output (a set of Envoy resources in proto3 JSON, keyed by type URL and name).
 */
import type { Resource } from '../../../api/resource';
import { TypeUrl } from '../../../proto/index';

/** An xDS resource type URL this CP serves. */
export type XdsTypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** Every type served, in the order a change is pushed: secrets and clusters warm before listeners use them (xDS "eventual consistency considerations"). */
export const PUSH_ORDER: readonly XdsTypeUrl[] = [
  TypeUrl.Secret,
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
];

/** Resources of one proxy: type URL -> resource name -> proto3 JSON (Envoy field names). */
export type ResourceSet = Map<XdsTypeUrl, Map<string, Record<string, any>>>;

/** A fresh, empty ResourceSet. */
export function emptyResourceSet(): ResourceSet {
  return new Map(PUSH_ORDER.map((t) => [t, new Map()]));
}

/**
 * What a generator returns when it has nothing for a proxy: one shared set without any
 * type (reading it finds nothing; addResource on it throws instead of filling a set
 * that every proxy shares). Saves a mesh-wide change five Maps per proxy and generator.
 */
export const NO_RESOURCES: ResourceSet = new Map();

/** Adds a resource by its `name` (or `cluster_name` for a CLA); a duplicate name with other content is a bug. */
export function addResource(set: ResourceSet, type: XdsTypeUrl, resource: Record<string, any>): void {
  const name: string = resource.name ?? resource.cluster_name;
  const m = set.get(type)!;
  const prev = m.get(name);
  if (prev && prev !== resource && JSON.stringify(prev) !== JSON.stringify(resource)) {
    throw new Error(`generator conflict: two different ${type} resources named "${name}"`);
  }
  m.set(name, resource);
}

/** Freezes an object graph in place (plain JSON: objects and arrays); returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

// Shared resources and their ids (for keys made of identities, see Snapshot.fromResourceSet).
const shared = new WeakMap<object, number>();
let nextSharedId = 1;

/**
 * Marks a resource as shared by many proxies: it is deep-frozen (a generator or hook
 * that tried to change it would throw rather than corrupt other proxies' config), so
 * its encoding can be cached by identity instead of by content (Snapshot.fromResourceSet).
 */
export function sharedResource<T extends Record<string, any>>(resource: T): T {
  if (!shared.has(resource)) shared.set(deepFreeze(resource), nextSharedId++);
  return resource;
}

/** True for a resource made by sharedResource (immutable: safe to cache by identity). */
export function isSharedResource(resource: object): boolean {
  return shared.has(resource);
}

/** A number unique to a shared resource (never reused in this process); undefined for others. */
export function sharedResourceId(resource: object): number | undefined {
  return shared.get(resource);
}

/** Merges `from` into `into` (same-name resources must be identical). */
export function mergeResourceSets(into: ResourceSet, from: ResourceSet): ResourceSet {
  for (const [type, m] of from) for (const r of m.values()) addResource(into, type, r);
  return into;
}

/** Everything about one mesh that generators read: a pure view of the store. */
export interface MeshSnapshot {
  name: string;
  /** Mesh spec (Kuma JSON form). */
  spec: Record<string, any>;
  /** True when the mesh has an enabled mTLS backend. */
  mtls: boolean;
  /** Mesh `routing.localityAwareLoadBalancing`. */
  localityAware: boolean;
  /** Dataplanes of the mesh, sorted by name. */
  dataplanes: Resource[];
  /** Other zones' ZoneIngresses (they carry every mesh's available services). */
  remoteIngresses: Resource[];
  trafficRoutes: Resource[];
  trafficPermissions: Resource[];
  /** Service -> VIP. */
  vips: Record<string, string>;
}

/** The kind of client at the other end of an ADS stream. */
export type ProxyKind = 'dataplane' | 'ingress' | 'proxyless';

/** A workload identity as SDS serves it. */
export interface IdentityMaterial {
  certPem: string;
  keyPem: string;
  caPem: string;
}

/** Settings of this CP that shape generated config. */
export interface CpSettings {
  /** This zone's name (empty in standalone mode: every dataplane is local). */
  zone: string;
  /** Port of VIP listeners (KUMA_DNS_SERVER_SERVICE_VIP_PORT, default 80). */
  vipPort: number;
}

/** One proxy and everything its config is generated from. */
export interface ProxyContext {
  kind: ProxyKind;
  mesh: string;
  name: string;
  cp: CpSettings;
  /** The Dataplane spec (kind dataplane; optional for proxyless clients). */
  dataplane?: Record<string, any>;
  /** The ZoneIngress spec (kind ingress). */
  zoneIngress?: Record<string, any>;
  /** The proxy's mesh (dataplane, proxyless). */
  meshSnapshot?: MeshSnapshot;
  /** Every mesh (ingress: it forwards for all of them). */
  meshes: MeshSnapshot[];
  /** True when kuma-dp runs its DNS server (node metadata `dataplane.dns.port`). */
  dnsEnabled: boolean;
  /**
   * Mesh clusters may carry HttpProtocolOptions common_http_protocol_options.idle_timeout:
   * false only for an embedded engine that does not list the feature (lib/client-features.ts).
   */
  clusterIdleTimeout: boolean;
  /** Identity cert and mesh CA, when the mesh has mTLS. */
  identity?: IdentityMaterial;
}

/** The one generator signature; profiles compose several. */
export type Generator = (ctx: ProxyContext) => ResourceSet;

/** Name of the SDS secret holding the proxy's identity certificate. */
export const IDENTITY_SECRET = 'identity_cert';
/** Name of the SDS secret holding the mesh CA (validation context). */
export const MESH_CA_SECRET = 'mesh_ca';
