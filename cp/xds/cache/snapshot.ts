/**
 * Immutable snapshots of one proxy's xDS resources (go-control-plane's model): every
 * resource encoded once into an Any, and a version per type that is a hash of the
 * type's content, so a type whose content did not change keeps its version and is not
 * re-sent, whichever change triggered the rebuild.
 */
import crypto from 'node:crypto';
import { TypeUrl, type AnyMessage } from '../../../proto/index';
import { encodeProtoJson } from '../../../proto/json';
import { PUSH_ORDER, isSharedResource, type ResourceSet, type XdsTypeUrl } from '../generators/types';
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

/**
 * The version of a type: a hash of its names and their content versions, the same value
 * hash() gives for those parts, in one call (every proxy of a mesh-wide change hashes
 * five of these; the incremental API cost more than the hashing).
 */
function typeVersion(m: ReadonlyMap<string, SnapshotResource>): string {
  let s = '';
  for (const r of m.values()) s += `${r.name}\u0000${r.version}\u0000`;
  return crypto.hash('sha256', s, 'hex').slice(0, 16);
}

/** Encodings by content (`type + JSON`), shared by the snapshots of one regeneration. */
export type EncodeCache = Map<string, { value: Uint8Array; version: string }>;

// Encodings of shared (deep-frozen) resources by identity: the generators hand the same
// cluster/CLA/route object to every proxy of a mesh that calls the service, so neither
// JSON.stringify for a content key nor encoding is paid more than once per object. An
// entry lives as long as its resource (the mesh snapshot's memo) does.
// The whole SnapshotResource is shared too, which keeps per-proxy snapshots small.
const byIdentity = new WeakMap<object, SnapshotResource>();

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
   * marked by sharedResource are cached by identity across regenerations instead.
   */
  static fromResourceSet(set: ResourceSet, cache?: EncodeCache): Snapshot {
    const resources = new Map<XdsTypeUrl, Map<string, SnapshotResource>>();
    const versions = new Map<XdsTypeUrl, string>();
    for (const type of PUSH_ORDER) {
      const m = new Map<string, SnapshotResource>();
      const src = set.get(type) ?? new Map();
      for (const name of [...src.keys()].sort()) {
        const json = src.get(name)!;
        if (isSharedResource(json)) {
          let r = byIdentity.get(json);
          if (!r || r.any.type_url !== type || r.name !== name) {
            const enc = encode(type, name, json);
            r = { name, json, any: { type_url: type, value: enc.value }, version: enc.version };
            byIdentity.set(json, r);
          }
          m.set(name, r);
          continue;
        }
        const key = cache ? `${type}\u0000${JSON.stringify(json)}` : '';
        let enc = cache?.get(key);
        if (!enc) {
          enc = encode(type, name, json);
          cache?.set(key, enc);
        }
        m.set(name, { name, json, any: { type_url: type, value: enc.value }, version: enc.version });
      }
      resources.set(type, m);
      versions.set(type, typeVersion(m));
    }
    return new Snapshot(resources, versions);
  }

  /** Resources of a type (empty map for none). */
  of(type: string): ReadonlyMap<string, SnapshotResource> {
    return this.resources.get(type as XdsTypeUrl) ?? new Map();
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
    if (c.json.type !== 'EDS') continue;
    const edsName = c.json.eds_cluster_config?.service_name ?? c.name;
    if (!clas.has(edsName)) problems.push(`cluster "${c.name}" uses EDS but there is no ClusterLoadAssignment "${edsName}"`);
  }
  const clusterRef = (where: string, name: string) => {
    if (!clusters.has(name)) problems.push(`${where} references cluster "${name}" which does not exist`);
  };
  for (const l of s.of(TypeUrl.Listener).values()) {
    for (const hcm of walkFilters(l.json)) {
      const rdsName = hcm.rds?.route_config_name;
      if (rdsName && !routes.has(rdsName)) problems.push(`listener "${l.name}" uses RDS "${rdsName}" which does not exist`);
    }
    for (const fc of l.json.filter_chains ?? []) {
      for (const f of fc.filters ?? []) {
        const tc = f.typed_config ?? {};
        if (tc['@type'] !== ExtensionTypeUrl.TcpProxy) continue;
        if (tc.cluster) clusterRef(`listener "${l.name}"`, tc.cluster);
        for (const w of tc.weighted_clusters?.clusters ?? []) clusterRef(`listener "${l.name}"`, w.name);
      }
    }
  }
  for (const r of routes.values()) {
    for (const vh of r.json.virtual_hosts ?? []) {
      for (const rt of vh.routes ?? []) {
        if (rt.route?.cluster) clusterRef(`route "${r.name}"`, rt.route.cluster);
        for (const w of rt.route?.weighted_clusters?.clusters ?? []) clusterRef(`route "${r.name}"`, w.name);
      }
    }
  }
  return problems;
}
