/**
 * Pure conversion between stored Kuma resources (meta + spec in Kuma's camelCase JSON)
 * and KDS wire resources (envoy `discovery.v3.Resource` holding an Any of
 * `kuma.kds.v1.KumaResource`, whose `spec` Any packs the kuma.mesh.v1alpha1 message).
 *
 * Decoding checks everything a hostile or broken peer could get wrong (Any type URLs,
 * undecodable bytes, names, scope, spec validation) and reports every problem with its
 * field path, so that the receiver can NACK with a precise `error_detail` and apply
 * nothing.
 */
import crypto from 'node:crypto';
import * as protobuf from 'protobufjs';
import { ValidationError, ViolationCollector, type FieldViolation } from '../../lib/errors';
import { fromStruct, kumaRoot, lookupType, toStruct, TYPE_PREFIX, type AnyMessage } from '../../proto';
import { validateResource } from '../../api/validation';
import type { ResourceInput } from '../../api/resource';
import {
  isMeshScoped,
  KUMA_RESOURCE_MESSAGE,
  KUMA_RESOURCE_TYPE_URL,
  parseWireName,
  specMessageOf,
  wireName,
  type KdsResourceType,
} from './kds-types';

/** An envoy `discovery.v3.Resource` as @grpc/grpc-js hands it over (Any kept as bytes). */
export interface WireResource {
  name: string;
  version?: string;
  resource?: AnyMessage | null;
}

/** A resource in transit: identity, labels and spec, without store bookkeeping. */
export interface KdsResource {
  type: KdsResourceType;
  mesh?: string;
  name: string;
  labels: Record<string, string>;
  spec: Record<string, any>;
  /** Set by a source: not ready to send; the peer keeps whatever version it has (nothing is removed). */
  hold?: boolean;
  /** The store version this was derived from; lets a sender reuse its content hash. */
  revision?: string;
}

const STRUCT = 'google.protobuf.Struct';

// Kuma's JSON form: enums by name, bytes as base64, no default-valued noise.
const TO_SPEC_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: String,
  defaults: false,
  oneofs: false,
  json: true,
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function fieldTypeName(f: protobuf.Field): string | undefined {
  return f.resolvedType instanceof protobuf.Type ? f.resolvedType.fullName.replace(/^\./, '') : undefined;
}

/**
 * Turns Kuma JSON into the object protobufjs expects for `type`: Struct fields become
 * `{fields: ...}`, unknown fields are reported (they would be dropped silently).
 */
function jsonToMessageObject(type: protobuf.Type, json: unknown, path: string, out: ViolationCollector): Record<string, unknown> {
  if (!isPlainObject(json)) {
    out.add(path, `must be an object, got ${JSON.stringify(json)}`);
    return {};
  }
  const obj: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    const fieldPath = path ? `${path}.${k}` : k;
    const field = type.fields[k];
    if (!field) {
      out.add(fieldPath, `unknown field; ${type.name} has ${Object.keys(type.fields).sort().join(', ')}`);
      continue;
    }
    if (v === null || v === undefined) continue;
    const sub = fieldTypeName(field);
    const convert = (x: unknown, p: string): unknown => {
      if (!sub) return x;
      if (sub === STRUCT) {
        if (!isPlainObject(x)) {
          out.add(p, `must be an object, got ${JSON.stringify(x)}`);
          return {};
        }
        return toStruct(x);
      }
      return jsonToMessageObject(field.resolvedType as protobuf.Type, x, p, out);
    };
    if (field.map) {
      if (!isPlainObject(v)) {
        out.add(fieldPath, `must be a map, got ${JSON.stringify(v)}`);
        continue;
      }
      const m: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(v)) m[mk] = convert(mv, `${fieldPath}[${JSON.stringify(mk)}]`);
      obj[k] = m;
    } else if (field.repeated) {
      if (!Array.isArray(v)) {
        out.add(fieldPath, `must be a list, got ${JSON.stringify(v)}`);
        continue;
      }
      obj[k] = v.map((x, i) => convert(x, `${fieldPath}[${i}]`));
    } else {
      obj[k] = convert(v, fieldPath);
    }
  }
  return obj;
}

/** Inverse of jsonToMessageObject on a decoded message's plain object. */
function messageObjectToJson(type: protobuf.Type, obj: Record<string, any>): Record<string, any> {
  const json: Record<string, any> = {};
  for (const [k, v] of Object.entries(obj)) {
    const field = type.fields[k];
    const sub = field ? fieldTypeName(field) : undefined;
    if (!field || !sub) {
      json[k] = v;
      continue;
    }
    const convert = (x: any): any =>
      sub === STRUCT ? fromStruct(x) : messageObjectToJson(field.resolvedType as protobuf.Type, x ?? {});
    if (field.map) json[k] = Object.fromEntries(Object.entries(v ?? {}).map(([mk, mv]) => [mk, convert(mv)]));
    else if (field.repeated) json[k] = (v ?? []).map(convert);
    else json[k] = convert(v);
  }
  return json;
}

function specType(type: KdsResourceType): protobuf.Type {
  return kumaRoot().lookupType(specMessageOf(type));
}

/** Encodes a spec (Kuma JSON) as its protobuf message; ValidationError when it does not fit the schema. */
export function encodeSpec(type: KdsResourceType, spec: Record<string, any>): Uint8Array {
  const t = specType(type);
  const out = new ViolationCollector();
  const obj = jsonToMessageObject(t, spec, 'spec', out);
  if (out.ok) {
    const err = t.verify(obj);
    if (err) out.add('spec', err);
  }
  out.throwIfAny(`${type} spec does not match ${t.fullName.slice(1)}`);
  return t.encode(t.fromObject(obj)).finish();
}

/** Decodes spec bytes into Kuma JSON; throws on bytes that are not the message. */
export function decodeSpec(type: KdsResourceType, bytes: Uint8Array): Record<string, any> {
  const t = specType(type);
  return messageObjectToJson(t, t.toObject(t.decode(bytes), TO_SPEC_OBJECT));
}

/** The spec as it looks after one trip over the wire (what a receiver stores). */
export function normalizeSpec(type: KdsResourceType, spec: Record<string, any>): Record<string, any> {
  return decodeSpec(type, encodeSpec(type, spec));
}

/** JSON with object keys sorted at every level: equal content, equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => v[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The KDS version of a resource: a hash of its normalized spec and wire labels. Both
 * ends compute it from content alone, so a reconnecting peer's
 * `initial_resource_versions` can be compared with what the other side has (store
 * versions differ between stores and restarts).
 */
export function contentVersion(type: KdsResourceType, spec: Record<string, any>, labels: Record<string, string>): string {
  const text = canonicalJson({ labels, spec: normalizeSpec(type, spec) });
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** Encodes a resource for the wire; ValidationError when its spec does not fit the schema. */
export function encodeResource(r: KdsResource, version: string): WireResource & { version: string; resource: AnyMessage } {
  const spec: AnyMessage = { type_url: `${TYPE_PREFIX}${specMessageOf(r.type)}`, value: encodeSpec(r.type, r.spec) };
  const meta: Record<string, unknown> = { name: r.name, version, labels: { ...r.labels } };
  if (r.mesh !== undefined) meta.mesh = r.mesh;
  const t = lookupType(KUMA_RESOURCE_MESSAGE);
  const value = t.encode(t.fromObject({ meta, spec })).finish();
  return { name: wireName(r.mesh, r.name), version, resource: { type_url: KUMA_RESOURCE_TYPE_URL, value } };
}

function decodeAny(messageName: string, bytes: unknown, path: string, out: ViolationCollector): Record<string, any> | undefined {
  if (!(bytes instanceof Uint8Array)) {
    out.add(path, 'missing bytes');
    return undefined;
  }
  try {
    const t = lookupType(messageName);
    return t.toObject(t.decode(bytes), { ...TO_SPEC_OBJECT, bytes: Buffer as unknown as typeof String }) as Record<string, any>;
  } catch (err) {
    out.add(path, `is not a valid ${messageName}: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * Decodes and validates one wire resource of `type`. `path` prefixes field paths in
 * violations (e.g. `resources[2]`). Throws ValidationError listing every problem.
 */
export function decodeResource(type: KdsResourceType, wire: WireResource, path: string): KdsResource {
  const out = new ViolationCollector();
  const title = `malformed ${type} resource ${JSON.stringify(wire?.name ?? '')}`;
  const key = typeof wire?.name === 'string' ? parseWireName(type, wire.name) : undefined;
  if (!key) {
    out.add(`${path}.name`, `${JSON.stringify(wire?.name)} is not a valid ${isMeshScoped(type) ? '"<mesh>/<name>"' : '"<name>"'} resource name`);
  }
  const any = wire?.resource;
  if (!any) {
    out.add(`${path}.resource`, 'missing');
    out.throwIfAny(title);
  }
  if (any!.type_url !== KUMA_RESOURCE_TYPE_URL) {
    out.add(`${path}.resource.type_url`, `${JSON.stringify(any!.type_url)} is not ${KUMA_RESOURCE_TYPE_URL}`);
    out.throwIfAny(title);
  }
  const kr = decodeAny(KUMA_RESOURCE_MESSAGE, any!.value, `${path}.resource.value`, out);
  out.throwIfAny(title);
  const meta = kr!.meta ?? {};
  const specAny = kr!.spec as { type_url?: string; value?: Uint8Array } | undefined;
  const wantSpecUrl = `${TYPE_PREFIX}${specMessageOf(type)}`;
  if (!specAny) out.add(`${path}.resource.spec`, 'missing');
  else if (specAny.type_url !== wantSpecUrl) {
    out.add(`${path}.resource.spec.type_url`, `${JSON.stringify(specAny.type_url)} is not ${wantSpecUrl}`);
  }
  if (key && meta.name !== key.name) out.add(`${path}.resource.meta.name`, `${JSON.stringify(meta.name)} does not match the resource name ${JSON.stringify(wire.name)}`);
  if (key && (meta.mesh || undefined) !== key.mesh) {
    out.add(`${path}.resource.meta.mesh`, `${JSON.stringify(meta.mesh ?? '')} does not match the resource name ${JSON.stringify(wire.name)}`);
  }
  out.throwIfAny(title);
  let spec: Record<string, any> = {};
  try {
    spec = decodeSpec(type, specAny!.value ?? new Uint8Array());
  } catch (err) {
    out.add(`${path}.resource.spec.value`, `is not a valid ${specMessageOf(type)}: ${(err as Error).message}`);
    out.throwIfAny(title);
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta.labels ?? {})) labels[k] = String(v);
  const res: KdsResource = { type, ...(key!.mesh !== undefined ? { mesh: key!.mesh } : {}), name: key!.name, labels, spec };
  const input: ResourceInput = { type, mesh: res.mesh, name: res.name, labels, spec };
  const violations: FieldViolation[] = validateResource(input);
  for (const v of violations) out.add(v.field ? `${path}.${v.field}` : path, v.message);
  out.throwIfAny(title);
  return res;
}

/** Thrown violations as one line for an `error_detail`. */
export function describeError(err: unknown): string {
  if (err instanceof ValidationError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
