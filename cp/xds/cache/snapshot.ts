/**
 * Immutable snapshots of one proxy's xDS resources (go-control-plane's model): every
 * resource encoded once into an Any, and a version per type that is a hash of the
 * type's content, so a type whose content did not change keeps its version and is not
 * re-sent, whichever change triggered the rebuild.
 */
import crypto from 'node:crypto';
import { TypeUrl, type AnyMessage } from '../../../proto/index';
import { encodeProtoJson } from '../../../proto/json';
import { PUSH_ORDER, isSharedResource, sharedResourceId, type ResourceSet, type XdsTypeUrl } from '../generators/types';
import { ExtensionTypeUrl } from '../../../proto/index';

/** One resource: proto3 JSON (for golden files and debugging) and its encoded Any. */
export interface SnapshotResource {
  name: string;
  json: Record<string, any>;
  any: AnyMessage;
  /** Content hash of the encoded bytes (delta xDS resource version). */
  version: string;
}

function hash(parts: (string | Uint8Array)[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('hex').slice(0, 16);
}

/** Two 32-bit multiply-xorshift lanes over a string's UTF-16 code units. */
function hashPair(s: string): [number, number] {
  let h1 = 0xdeadbeef ^ s.length;
  let h2 = 0x41c6ce57 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return [h1, h2];
}

// Per resource (name and content version), computed once: shared resources are the same
// objects for every proxy that uses them.
const resourceHashes = new WeakMap<SnapshotResource, [number, number]>();

function resourceHash(r: SnapshotResource): [number, number] {
  let h = resourceHashes.get(r);
  if (!h) resourceHashes.set(r, (h = hashPair(`${r.name}\u0000${r.version}`)));
  return h;
}

/**
 * The version of a type: 64 bits (16 hex digits) mixed from each resource's name and
 * content version, in name order. Not cryptographic; it only has to tell one proxy's
 * successive contents of a type apart (go-control-plane hashes with 64-bit FNV for the
 * same job). sha256 over the names and versions cost ~2 us a call through node:crypto,
 * and every proxy of a mesh-wide change computes five of these.
 */
function typeVersion(m: ReadonlyMap<string, SnapshotResource>): string {
  let h1 = 0x9e3779b9 ^ m.size;
  let h2 = 0x85ebca6b ^ m.size;
  for (const r of m.values()) {
    const [a, b] = resourceHash(r);
    h1 = Math.imul(h1 ^ a, 2654435761) ^ (h2 >>> 15);
    h2 = Math.imul(h2 ^ b, 1597334677) ^ (h1 >>> 13);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

/** A type built from shared resources only, and what it was built from. */
export interface TypeCacheEntry {
  names: string[];
  jsons: object[];
  resources: ReadonlyMap<string, SnapshotResource>;
  version: string;
}

/** Types already built in one regeneration, by sharedIdentity (see fromResourceSet). */
export type TypeCache = Map<number, TypeCacheEntry[]>;

/**
 * A hash of the identities of a type's resources, in the set's order, when every one is
 * shared; else undefined. Equal hashes are confirmed resource by resource (sameSource),
 * so a collision costs a rebuild, never another proxy's config. Concatenating names and
 * ids into a string key (and hashing that string) cost more than building the type.
 */
function sharedIdentity(typeIndex: number, src: ReadonlyMap<string, Record<string, any>>): number | undefined {
  let h1 = Math.imul(typeIndex + 1, 0x9e3779b1) ^ src.size;
  let h2 = Math.imul(typeIndex + 1, 0x85ebca6b) ^ src.size;
  for (const json of src.values()) {
    const id = sharedResourceId(json);
    if (id === undefined) return undefined;
    h1 = Math.imul(h1 ^ id, 2654435761) ^ (h2 >>> 15);
    h2 = Math.imul(h2 ^ (id * 31 + 7), 1597334677) ^ (h1 >>> 13);
  }
  return (h1 >>> 0) * 0x200000 + ((h2 >>> 0) & 0x1fffff);
}

function sameSource(e: TypeCacheEntry, src: ReadonlyMap<string, Record<string, any>>): boolean {
  if (e.jsons.length !== src.size) return false;
  let i = 0;
  for (const [name, json] of src) {
    if (e.jsons[i] !== json || e.names[i] !== name) return false;
    i++;
  }
  return true;
}

/** What fromResourceSet needs of an encoding cache: encodings by content (`type + JSON`). */
export interface EncodeCache {
  get(key: string): { value: Uint8Array; version: string } | undefined;
  set(key: string, value: { value: Uint8Array; version: string }): unknown;
}

/**
 * An encoding cache that keeps what recent regenerations used. Two generations: entries
 * go into the young one; when it holds `limit` entries it becomes the old one and the
 * previous old one is dropped; a hit in the old one moves the entry back to the young
 * one. Unlike clearing everything at a bound, the resources every regeneration meets
 * (each proxy's own inbound listener, say) are never all re-encoded at once.
 */
export class GenerationalEncodeCache implements EncodeCache {
  private young = new Map<string, { value: Uint8Array; version: string }>();
  private old = new Map<string, { value: Uint8Array; version: string }>();

  constructor(public limit: number) {}

  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: string): { value: Uint8Array; version: string } | undefined {
    const v = this.young.get(key);
    if (v) return v;
    const o = this.old.get(key);
    if (o) this.set(key, o);
    return o;
  }

  set(key: string, value: { value: Uint8Array; version: string }): this {
    if (this.young.size >= this.limit) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
    return this;
  }
}

// Encodings of shared (deep-frozen) resources by identity: the generators hand the same
// cluster/CLA/route object to every proxy of a mesh that calls the service, so neither
// JSON.stringify for a content key nor encoding is paid more than once per object. An
// entry lives as long as its resource (the mesh snapshot's memo) does.
// The whole SnapshotResource is shared too, which keeps per-proxy snapshots small.
const byIdentity = new WeakMap<object, SnapshotResource>();

/** The encoding of `json`, from `cache` when the same content was encoded before. */
function encodeCached(type: XdsTypeUrl, name: string, json: Record<string, any>, cache: EncodeCache | undefined): { value: Uint8Array; version: string } {
  if (!cache) return encode(type, name, json);
  const key = `${type}\u0000${JSON.stringify(json)}`;
  let enc = cache.get(key);
  if (!enc) {
    enc = encode(type, name, json);
    cache.set(key, enc);
  }
  return enc;
}

function encode(type: XdsTypeUrl, name: string, json: Record<string, any>): { value: Uint8Array; version: string } {
  let value: Uint8Array;
  try {
    value = encodeProtoJson(type, json);
  } catch (err) {
    (err as Error).message = `${type} "${name}": ${(err as Error).message}`;
    throw err;
  }
  return { value, version: hash([value]) };
}

/** The one map of a type a snapshot has no resource of (never changed). */
const EMPTY_TYPE: ReadonlyMap<string, SnapshotResource> = new Map();
const EMPTY_TYPE_VERSION = typeVersion(EMPTY_TYPE);

/**
 * The names of a type, sorted by UTF-16 code units (what Array.prototype.sort does
 * without a comparator). A proxy's types hold a handful of resources: insertion sort
 * into one array costs less than spreading the keys and sorting a copy of them.
 */
function sortedNames(src: ReadonlyMap<string, unknown>): string[] {
  const out: string[] = [];
  for (const name of src.keys()) {
    let i = out.length;
    while (i > 0 && out[i - 1] > name) {
      out[i] = out[i - 1];
      i--;
    }
    out[i] = name;
  }
  return out;
}

/** A versioned, immutable set of resources per type. */
export class Snapshot {
  private constructor(
    /** type URL -> name -> resource, names sorted. */
    readonly resources: ReadonlyMap<XdsTypeUrl, ReadonlyMap<string, SnapshotResource>>,
    /** type URL -> content version. */
    readonly versions: ReadonlyMap<XdsTypeUrl, string>,
  ) {}

  /**
   * Encodes a ResourceSet with Envoy's protos (strict proto3 JSON; throws ProtoJsonError
   * naming the resource and field). `cache` memoizes encodings by content across the
   * proxies of one regeneration: most clusters and endpoints of a mesh are identical
   * for every proxy that calls them, and encoding dominates generation cost. Resources
   * marked by sharedResource are also cached by identity (a SnapshotResource per object),
   * and `types` (one per regeneration) holds whole types made only of shared resources.
   */
  static fromResourceSet(set: ResourceSet, cache?: EncodeCache, types?: TypeCache): Snapshot {
    const resources = new Map<XdsTypeUrl, ReadonlyMap<string, SnapshotResource>>();
    const versions = new Map<XdsTypeUrl, string>();
    for (let t = 0; t < PUSH_ORDER.length; t++) {
      const type = PUSH_ORDER[t];
      const src = set.get(type);
      if (!src || src.size === 0) {
        resources.set(type, EMPTY_TYPE);
        versions.set(type, EMPTY_TYPE_VERSION);
        continue;
      }
      // A type made only of shared resources (replicas' clusters, say) is the same for
      // every proxy that has the same ones: build its map and version once.
      const key = types ? sharedIdentity(t, src) : undefined;
      const candidates = key === undefined ? undefined : types!.get(key);
      const known = candidates?.find((e) => sameSource(e, src));
      if (known) {
        resources.set(type, known.resources);
        versions.set(type, known.version);
        continue;
      }
      const m = new Map<string, SnapshotResource>();
      for (const name of sortedNames(src)) {
        const json = src.get(name)!;
        if (!isSharedResource(json)) {
          const enc = encodeCached(type, name, json, cache);
          m.set(name, { name, json, any: { type_url: type, value: enc.value }, version: enc.version });
          continue;
        }
        let r = byIdentity.get(json);
        if (!r || r.any.type_url !== type || r.name !== name) {
          // A new object, maybe with old content: a mesh-wide change rebuilds every
          // destination of the mesh, and most of them come out as they were.
          const enc = encodeCached(type, name, json, cache);
          r = { name, json, any: { type_url: type, value: enc.value }, version: enc.version };
          byIdentity.set(json, r);
        }
        m.set(name, r);
      }
      const version = typeVersion(m);
      resources.set(type, m);
      versions.set(type, version);
      if (key !== undefined) {
        const entry: TypeCacheEntry = { names: [...src.keys()], jsons: [...src.values()], resources: m, version };
        if (candidates) candidates.push(entry);
        else types!.set(key, [entry]);
      }
    }
    return new Snapshot(resources, versions);
  }

  /** Resources of a type (empty map for none). */
  of(type: string): ReadonlyMap<string, SnapshotResource> {
    return this.resources.get(type as XdsTypeUrl) ?? EMPTY_TYPE;
  }

  /** Version of a type ('' for a type this snapshot does not serve). */
  version(type: string): string {
    return this.versions.get(type as XdsTypeUrl) ?? '';
  }
}

function walkFilters(listener: Record<string, any>): Record<string, any>[] {
  const hcms: Record<string, any>[] = [];
  for (const fc of listener.filter_chains ?? []) {
    for (const f of fc.filters ?? []) if (f.typed_config?.['@type'] === ExtensionTypeUrl.HttpConnectionManager) hcms.push(f.typed_config);
  }
  const api = listener.api_listener?.api_listener;
  if (api?.['@type'] === ExtensionTypeUrl.HttpConnectionManager) hcms.push(api);
  return hcms;
}

/** What a resource references by name, read once per SnapshotResource (they are immutable and shared by the proxies that use them). */
interface References {
  /** Cluster: the ClusterLoadAssignment it needs (EDS only). */
  cla?: string;
  /** Listener: RouteConfigurations it needs, in the order they appear. */
  routes: string[];
  /** Listener, RouteConfiguration: clusters it sends to, in order. */
  clusters: string[];
}

const NO_REFERENCES: References = { routes: [], clusters: [] };
const referencesOf = new WeakMap<SnapshotResource, References>();

function clusterReferences(c: SnapshotResource): References {
  if (c.json.type !== 'EDS') return NO_REFERENCES;
  return { cla: c.json.eds_cluster_config?.service_name ?? c.name, routes: [], clusters: [] };
}

function listenerReferences(l: SnapshotResource): References {
  const routes: string[] = [];
  const clusters: string[] = [];
  for (const hcm of walkFilters(l.json)) {
    const rdsName = hcm.rds?.route_config_name;
    if (rdsName) routes.push(rdsName);
  }
  for (const fc of l.json.filter_chains ?? []) {
    for (const f of fc.filters ?? []) {
      const tc = f.typed_config ?? {};
      if (tc['@type'] !== ExtensionTypeUrl.TcpProxy) continue;
      if (tc.cluster) clusters.push(tc.cluster);
      for (const w of tc.weighted_clusters?.clusters ?? []) clusters.push(w.name);
    }
  }
  return routes.length || clusters.length ? { routes, clusters } : NO_REFERENCES;
}

function routeReferences(r: SnapshotResource): References {
  const clusters: string[] = [];
  for (const vh of r.json.virtual_hosts ?? []) {
    for (const rt of vh.routes ?? []) {
      if (rt.route?.cluster) clusters.push(rt.route.cluster);
      for (const w of rt.route?.weighted_clusters?.clusters ?? []) clusters.push(w.name);
    }
  }
  return clusters.length ? { routes: [], clusters } : NO_REFERENCES;
}

function references(r: SnapshotResource, read: (r: SnapshotResource) => References): References {
  let refs = referencesOf.get(r);
  if (!refs) referencesOf.set(r, (refs = read(r)));
  return refs;
}

/**
 * Problems that would leave a proxy waiting forever (go-control-plane's Consistent):
 * an EDS cluster without its ClusterLoadAssignment, an RDS name without its
 * RouteConfiguration, a route or tcp_proxy to a cluster that does not exist.
 * Empty when consistent. Pure.
 */
export function consistent(s: Snapshot): string[] {
  const problems: string[] = [];
  const clusters = s.of(TypeUrl.Cluster);
  const clas = s.of(TypeUrl.ClusterLoadAssignment);
  const routes = s.of(TypeUrl.RouteConfiguration);
  for (const c of clusters.values()) {
    const edsName = references(c, clusterReferences).cla;
    if (edsName !== undefined && !clas.has(edsName)) problems.push(`cluster "${c.name}" uses EDS but there is no ClusterLoadAssignment "${edsName}"`);
  }
  for (const l of s.of(TypeUrl.Listener).values()) {
    const refs = references(l, listenerReferences);
    for (const rdsName of refs.routes) if (!routes.has(rdsName)) problems.push(`listener "${l.name}" uses RDS "${rdsName}" which does not exist`);
    for (const name of refs.clusters) if (!clusters.has(name)) problems.push(`listener "${l.name}" references cluster "${name}" which does not exist`);
  }
  for (const r of routes.values()) {
    for (const name of references(r, routeReferences).clusters) if (!clusters.has(name)) problems.push(`route "${r.name}" references cluster "${name}" which does not exist`);
  }
  return problems;
}
