/**
 * The one facade for every protobuf the project uses: Envoy v3 (from the pinned
 * @grpc/grpc-js-xds package), Kuma's resource messages and KDS (ours). Loads the JSON
 * bundles that the build wrote beside this file, lazily, so CLIs that never speak
 * protobuf pay nothing.
 *
 * Envoy messages use Envoy's own field names (snake_case); Kuma messages use
 * camelCase, as Kuma's YAML does.
 */
import fs from 'node:fs';
import path from 'node:path';
// The light build: reflection from JSON bundles, without the .proto parser kuma-dp never needs.
import * as protobuf from 'protobufjs/light';
import type * as protoLoader from '@grpc/proto-loader';
import type { MethodDefinition as GrpcMethodDefinition } from '@grpc/grpc-js';

/** What @grpc/grpc-js's loadPackageDefinition takes. */
export type GrpcPackageDefinition = Parameters<typeof import('@grpc/grpc-js').loadPackageDefinition>[0];

/** Prefix of every type URL. */
export const TYPE_PREFIX = 'type.googleapis.com/';

/** xDS resource type URLs (xDS protocol doc, "Resource types"). */
export const TypeUrl = {
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  RouteConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

/** Type URLs of the filters and extensions our generators place in typed_config. */
export const ExtensionTypeUrl = {
  HttpConnectionManager:
    'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  TcpProxy: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  NetworkRbac: 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC',
  HttpRbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  Router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  TlsInspector: 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  SniCluster: 'type.googleapis.com/envoy.extensions.filters.network.sni_cluster.v3.SniCluster',
  UpstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  DownstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  HttpProtocolOptions: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
} as const;

/** Kuma resource message type names (package kuma.mesh.v1alpha1), by resource type. */
export const KumaMessage = {
  Mesh: 'kuma.mesh.v1alpha1.Mesh',
  Dataplane: 'kuma.mesh.v1alpha1.Dataplane',
  ZoneIngress: 'kuma.mesh.v1alpha1.ZoneIngress',
  Zone: 'kuma.mesh.v1alpha1.Zone',
  TrafficRoute: 'kuma.mesh.v1alpha1.TrafficRoute',
  TrafficPermission: 'kuma.mesh.v1alpha1.TrafficPermission',
  Secret: 'kuma.mesh.v1alpha1.Secret',
} as const;

/** An Any as it travels on the wire. */
export interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

/** The ADS service, the one gRPC service kuma-dp's embedded engine calls. */
export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/**
 * What kuma-dp decodes: the xDS resources, the extensions our generators put in them,
 * and the ADS service. The build keeps only the types these reach in envoy-agent.json.
 */
export const AGENT_ENVOY_ROOTS: readonly string[] = [...Object.values(TypeUrl), ...Object.values(ExtensionTypeUrl)].map(typeNameOf).concat(ADS_SERVICE);

/** Which Envoy bundle envoyRoot() loads: everything (CP, CLIs, tests) or the agent's cut. */
export type EnvoyBundle = 'full' | 'agent';

const bundleDir = __dirname; // dist/proto: the build writes envoy.json, envoy-agent.json and kuma.json here
let envoyBundle: EnvoyBundle = 'full';
let envoy: protobuf.Root | undefined;
let envoyFull: protobuf.Root | undefined;
let kuma: protobuf.Root | undefined;

function readBundle(name: string): protobuf.INamespace {
  const file = path.join(bundleDir, `${name}.json`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`proto bundle ${file} is missing or unreadable; run "npm run build"`, { cause: err });
  }
}

/**
 * Makes envoyRoot() load `bundle`. kuma-dp selects 'agent' before anything decodes: the
 * full bundle's Root costs it ~4 MiB of heap (and more in start-up garbage) for types
 * it never sees. Must be called before the first envoyRoot(); a later call that would
 * change the choice throws rather than leave two roots in use.
 */
export function useEnvoyBundle(bundle: EnvoyBundle): void {
  if (bundle === envoyBundle) return;
  if (envoy) throw new Error(`useEnvoyBundle("${bundle}"): the "${envoyBundle}" Envoy bundle is already loaded`);
  envoyBundle = bundle;
}

/** The bundle envoyRoot() loads. */
export function envoyBundleInUse(): EnvoyBundle {
  return envoyBundle;
}

function loadRoot(name: string): protobuf.Root {
  const r = protobuf.Root.fromJSON(readBundle(name));
  r.resolveAll();
  forgetLookupCaches(r);
  return r;
}

/**
 * Empties the lookup memo of every namespace of a resolved root. resolveAll() looks up
 * each field's type from the field's namespace outwards, and protobufjs (7.x) memoizes
 * every step, misses included, in a per-namespace `_lookupCache`: for the agent's Envoy
 * cut that is 8,159 entries in 440 namespaces, 0.7 MiB of a 2.9 MiB root, kept for the
 * life of the process although after resolution only the few type-URL lookups of
 * decoding run (and fill the memo again with just those). Returns how many were dropped.
 */
export function forgetLookupCaches(root: protobuf.Root): number {
  let dropped = 0;
  eachNamespace(root, (ns) => {
    const memo = (ns as unknown as { _lookupCache?: Record<string, unknown> })._lookupCache;
    if (memo && typeof memo === 'object') {
      dropped += Object.keys(memo).length;
      (ns as unknown as { _lookupCache: Record<string, unknown> })._lookupCache = Object.create(null);
    }
  });
  return dropped;
}

/** Calls `visit` on `ns` and every namespace below it (Types and Services are namespaces at run time). */
function eachNamespace(ns: protobuf.NamespaceBase, visit: (ns: protobuf.NamespaceBase) => void): void {
  visit(ns);
  for (const o of ns.nestedArray) if (o instanceof protobuf.Namespace) eachNamespace(o, visit);
}

/**
 * The root holding Envoy's v3 API, google.protobuf, validate and KDS (snake_case names);
 * with the agent bundle selected, only what AGENT_ENVOY_ROOTS reach.
 */
export function envoyRoot(): protobuf.Root {
  if (!envoy) envoy = envoyBundle === 'agent' ? loadRoot('envoy-agent') : (envoyFull = loadRoot('envoy'));
  return envoy;
}

/** The root with the whole Envoy bundle, whichever bundle envoyRoot() uses. */
export function fullEnvoyRoot(): protobuf.Root {
  if (envoyBundle === 'full') return envoyRoot();
  if (!envoyFull) envoyFull = loadRoot('envoy');
  return envoyFull;
}

/**
 * Lets go of the writing half of the code protobufjs generated for the messages decoded
 * so far. The first use of a message type generates five functions from source text at
 * once (encode, decode, verify, fromObject, toObject); a reader such as kuma-dp's engine
 * only ever calls decode and toObject on the xDS resources, yet keeps the other three,
 * with their source, for the life of the process (~150 KB of source for the ~24 types of
 * a sidecar's config). This deletes a set-up type's own encode, verify and fromObject,
 * so the prototype's set-up stubs answer again: a later encode regenerates them (all
 * five, once), so nothing breaks, it is only slower the first time. Returns how many
 * types it trimmed. Only the loaded roots are walked; nothing is loaded.
 */
export function dropGeneratedWriters(): number {
  let n = 0;
  const trim = (ns: protobuf.NamespaceBase) => {
    if (!(ns instanceof protobuf.Type) || !Object.prototype.hasOwnProperty.call(ns, 'encode')) return;
    const t = ns as unknown as Record<string, unknown>;
    delete t.encode;
    delete t.verify;
    delete t.fromObject;
    n++;
  };
  for (const r of new Set([envoy, envoyFull, kuma])) if (r) eachNamespace(r, trim);
  return n;
}

/** The root holding Kuma's resource messages (camelCase names). */
export function kumaRoot(): protobuf.Root {
  if (!kuma) {
    kuma = protobuf.Root.fromJSON(readBundle('kuma'));
    kuma.resolveAll();
    forgetLookupCaches(kuma);
  }
  return kuma;
}

/** Type name from a type URL (`type.googleapis.com/a.b.C` -> `a.b.C`). */
export function typeNameOf(typeUrl: string): string {
  const i = typeUrl.lastIndexOf('/');
  return i >= 0 ? typeUrl.slice(i + 1) : typeUrl;
}

/** Looks a message type up by full name or type URL in the Envoy root, then the Kuma root. */
export function lookupType(nameOrUrl: string): protobuf.Type {
  const name = typeNameOf(nameOrUrl);
  for (const root of [envoyRoot(), kumaRoot()]) {
    const t = root.lookup(name);
    if (t instanceof protobuf.Type) return t;
  }
  // The agent's cut holds what kuma-dp decodes; anything else (a tool, a test) still
  // finds its type, at the price of loading the whole bundle once.
  if (envoyBundle === 'agent') {
    const t = fullEnvoyRoot().lookup(name);
    if (t instanceof protobuf.Type) return t;
  }
  throw new Error(`unknown protobuf message type "${name}"`);
}

/** Options for turning decoded messages into plain objects. */
export const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: Buffer as unknown as typeof String,
  defaults: false,
  oneofs: false,
  json: true,
};

/**
 * Encodes a plain object as the named message. Any fields may be given in JSON form
 * (`{'@type': url, ...fields}`). Throws when protobufjs's verifier rejects the object.
 */
export function encode(nameOrUrl: string, obj: object): Uint8Array {
  const t = lookupType(nameOrUrl);
  const msg = t.fromObject(obj as Record<string, unknown>);
  const err = t.verify(msg);
  if (err) throw new Error(`${t.fullName}: ${err}`);
  return t.encode(msg).finish();
}

/** Decodes bytes as the named message into a plain object (Any fields as `{'@type', ...}`). */
export function decode(nameOrUrl: string, bytes: Uint8Array): Record<string, any> {
  const t = lookupType(nameOrUrl);
  return t.toObject(t.decode(bytes), TO_OBJECT) as Record<string, any>;
}

/** Packs a plain object into an Any of the given type URL. */
export function packAny(typeUrl: string, obj: object): AnyMessage {
  return { type_url: typeUrl, value: encode(typeUrl, obj) };
}

/** Unpacks an Any into a plain object of its type. */
export function unpackAny(any: AnyMessage): Record<string, any> {
  return decode(any.type_url, any.value);
}

/** google.protobuf.Struct from a JSON value, for Kuma fields typed Struct (e.g. CA `conf`). */
export function toStruct(obj: Record<string, unknown>): { fields: Record<string, unknown> } {
  const value = (v: unknown): Record<string, unknown> => {
    if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
    if (typeof v === 'number') return { numberValue: v };
    if (typeof v === 'string') return { stringValue: v };
    if (typeof v === 'boolean') return { boolValue: v };
    if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
    return { structValue: toStruct(v as Record<string, unknown>) };
  };
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = value(v);
  return { fields };
}

/** JSON value from a google.protobuf.Struct (inverse of toStruct). */
export function fromStruct(s: { fields?: Record<string, any> } | undefined): Record<string, unknown> {
  const value = (v: any): unknown => {
    if (!v || v.nullValue !== undefined) return null;
    if (v.numberValue !== undefined) return v.numberValue;
    if (v.stringValue !== undefined) return v.stringValue;
    if (v.boolValue !== undefined) return v.boolValue;
    if (v.listValue !== undefined) return (v.listValue.values ?? []).map(value);
    if (v.structValue !== undefined) return fromStruct(v.structValue);
    return null;
  };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = value(v);
  return out;
}

let grpcDefs: protoLoader.PackageDefinition | undefined;

/** The conversions grpcPackageDefinition() asks @grpc/proto-loader for, applied by hand. */
const GRPC_TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: false, oneofs: true };

/**
 * A package definition for @grpc/grpc-js holding only `serviceName`, built from
 * envoyRoot() with the same message conversions as grpcPackageDefinition(). kuma-dp
 * uses it for its one ADS client: proto-loader would build a second Root and a
 * descriptor for every message of the bundle, several MiB the agent never reads.
 */
export function grpcServiceDefinition(serviceName: string): GrpcPackageDefinition {
  const svc = envoyRoot().lookup(serviceName);
  if (!(svc instanceof protobuf.Service)) throw new Error(`unknown gRPC service "${serviceName}"`);
  const serializer = (t: protobuf.Type) => (arg: object) => {
    if (Array.isArray(arg)) throw new Error(`Failed to serialize message: expected object with ${t.name} structure, got array instead`);
    return Buffer.from(t.encode(t.fromObject(arg as Record<string, unknown>)).finish());
  };
  const deserializer = (t: protobuf.Type) => (buf: Buffer) => t.toObject(t.decode(buf), GRPC_TO_OBJECT);
  const methods: Record<string, GrpcMethodDefinition<object, object>> = {};
  for (const m of svc.methodsArray) {
    m.resolve();
    const req = m.resolvedRequestType!;
    const res = m.resolvedResponseType!;
    methods[m.name] = {
      path: `/${serviceName}/${m.name}`,
      requestStream: !!m.requestStream,
      responseStream: !!m.responseStream,
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
      originalName: m.name.charAt(0).toLowerCase() + m.name.slice(1),
    };
  }
  return { [serviceName]: methods };
}

/**
 * Package definition for @grpc/grpc-js services (ADS, SDS, KDS). Messages keep
 * Envoy's field names; Any stays `{type_url, value}` so handlers decode lazily.
 */
export function grpcPackageDefinition(): protoLoader.PackageDefinition {
  if (!grpcDefs) {
    // Required here, not at the top: kuma-dp never needs proto-loader (see grpcServiceDefinition).
    const loader = require('@grpc/proto-loader') as typeof protoLoader;
    grpcDefs = loader.fromJSON(readBundle('envoy'), {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
    });
  }
  return grpcDefs;
}
