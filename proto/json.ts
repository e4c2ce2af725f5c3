/**
 * Proto3 canonical JSON (the form Envoy reads from a bootstrap file and shows in its
 * docs: durations as "5s", wrappers as plain values, Struct as plain JSON, Any with
 * `@type`) to protobufjs objects, strictly: an unknown field name or enum value is an
 * error with its path, as it is for Envoy's own JSON parser
 * (https://protobuf.dev/programming-guides/proto3/#json). protobufjs's `fromObject`
 * silently drops unknown fields, which would hide a typo in a generator.
 */
import * as protobuf from 'protobufjs';
import { fullEnvoyRoot, typeNameOf } from './index';
import { KumaError } from '../lib/errors';

/** A JSON value could not be read as the protobuf message it claims to be. */
export class ProtoJsonError extends KumaError {
  constructor(message: string) {
    super('ERR_PROTO_JSON', message);
  }
}

const WRAPPERS = new Set([
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);

function fullName(t: protobuf.Type): string {
  return t.fullName.replace(/^\./, '');
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** Parses a proto3 JSON duration ("1.5s") into seconds and nanos. */
export function parseDuration(v: unknown, path: string): { seconds: number; nanos: number } {
  if (typeof v === 'object' && v !== null && ('seconds' in v || 'nanos' in v)) {
    const o = v as { seconds?: number; nanos?: number };
    return { seconds: Number(o.seconds ?? 0), nanos: Number(o.nanos ?? 0) };
  }
  const m = typeof v === 'string' ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(v) : null;
  if (!m) throw new ProtoJsonError(`${path}: duration must be a string like "5s" or "0.250s", got ${JSON.stringify(v)}`);
  const sign = m[1] ? -1 : 1;
  const nanos = m[3] ? Number(m[3].padEnd(9, '0')) : 0;
  return { seconds: sign * Number(m[2]), nanos: sign * nanos };
}

function structValue(v: unknown): Record<string, unknown> {
  if (v === null) return { null_value: 0 };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(structValue) } };
  return { struct_value: struct(v as Record<string, unknown>) };
}

function struct(v: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) fields[k] = structValue(x);
  return { fields };
}

function messageFromJson(t: protobuf.Type, v: unknown, path: string, root: protobuf.Root): Record<string, unknown> {
  const name = fullName(t);
  if (name === 'google.protobuf.Duration') return parseDuration(v, path);
  if (WRAPPERS.has(name)) {
    if (typeof v === 'object' && v !== null && 'value' in v) return v as Record<string, unknown>;
    return { value: v };
  }
  if (name === 'google.protobuf.Struct') {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProtoJsonError(`${path}: Struct must be a JSON object`);
    return struct(v as Record<string, unknown>);
  }
  if (name === 'google.protobuf.Value') return structValue(v);
  if (name === 'google.protobuf.Any') return anyFromJson(v, path, root);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ProtoJsonError(`${path || name}: expected an object for message ${name}, got ${JSON.stringify(v)}`);
  }
  const out: Record<string, unknown> = {};
  const oneofSeen = new Map<string, string>();
  for (const [key, value] of Object.entries(v as Record<string, unknown>)) {
    const f = t.fields[key];
    const p = join(path, key);
    if (!f) {
      const known = Object.keys(t.fields).sort().join(', ');
      throw new ProtoJsonError(`${p}: unknown field of ${name}; known fields: ${known}`);
    }
    if (value === null || value === undefined) continue;
    if (f.partOf) {
      const prev = oneofSeen.get(f.partOf.name);
      if (prev) throw new ProtoJsonError(`${p}: oneof ${f.partOf.name} already set by ${prev}`);
      oneofSeen.set(f.partOf.name, key);
    }
    out[key] = fieldFromJson(f, value, p, root);
  }
  return out;
}

function fieldFromJson(f: protobuf.Field, value: unknown, path: string, root: protobuf.Root): unknown {
  f.resolve();
  if (f instanceof protobuf.MapField) {
    if (typeof value !== 'object' || Array.isArray(value)) throw new ProtoJsonError(`${path}: map must be a JSON object`);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(value as Record<string, unknown>)) out[k] = single(f, x, `${path}.${k}`, root);
    return out;
  }
  if (f.repeated) {
    if (!Array.isArray(value)) throw new ProtoJsonError(`${path}: repeated field must be a JSON array, got ${JSON.stringify(value)}`);
    return value.map((x, i) => single(f, x, `${path}[${i}]`, root));
  }
  return single(f, value, path, root);
}

function single(f: protobuf.Field, value: unknown, path: string, root: protobuf.Root): unknown {
  const rt = f.resolvedType;
  if (rt instanceof protobuf.Type) return messageFromJson(rt, value, path, root);
  if (rt instanceof protobuf.Enum) {
    if (typeof value === 'string' && !(value in rt.values)) {
      throw new ProtoJsonError(`${path}: "${value}" is not a value of ${rt.name}; valid: ${Object.keys(rt.values).join(', ')}`);
    }
    if (typeof value !== 'string' && typeof value !== 'number') throw new ProtoJsonError(`${path}: enum must be a name or number`);
    return value;
  }
  switch (f.type) {
    case 'string':
      if (typeof value !== 'string') throw new ProtoJsonError(`${path}: expected a string, got ${JSON.stringify(value)}`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new ProtoJsonError(`${path}: expected true or false, got ${JSON.stringify(value)}`);
      return value;
    case 'bytes':
      if (typeof value === 'string') return Buffer.from(value, 'base64');
      if (value instanceof Uint8Array) return value;
      throw new ProtoJsonError(`${path}: bytes must be a base64 string`);
    default: {
      const n = typeof value === 'string' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw new ProtoJsonError(`${path}: expected a number, got ${JSON.stringify(value)}`);
      if (/int|fixed/.test(f.type) && !Number.isInteger(n)) throw new ProtoJsonError(`${path}: expected an integer, got ${value}`);
      if (/^(uint|fixed)/.test(f.type) && n < 0) throw new ProtoJsonError(`${path}: expected a non-negative integer, got ${value}`);
      return n;
    }
  }
}

function anyFromJson(v: unknown, path: string, root: protobuf.Root): { type_url: string; value: Uint8Array } {
  if (typeof v !== 'object' || v === null) throw new ProtoJsonError(`${path}: Any must be an object with "@type"`);
  const { '@type': url, ...rest } = v as Record<string, unknown>;
  if (typeof url !== 'string' || url.length === 0) throw new ProtoJsonError(`${path}.@type: Any needs a type URL`);
  const inner = root.lookup(typeNameOf(url));
  if (!(inner instanceof protobuf.Type)) throw new ProtoJsonError(`${path}.@type: unknown message type "${url}"`);
  // WKTs with a special JSON form carry it under "value" inside an Any.
  const special = /^google\.protobuf\.(Duration|Struct|Value|\w+Value)$/.test(fullName(inner));
  const obj = messageFromJson(inner, special ? rest.value : rest, path, root);
  return { type_url: url, value: inner.encode(inner.fromObject(obj)).finish() };
}

/** Converts proto3 JSON of the named Envoy message into a protobufjs Message; throws ProtoJsonError with a path. */
export function fromProtoJson(nameOrUrl: string, json: unknown): protobuf.Message {
  const root = fullEnvoyRoot();
  const t = root.lookupType(typeNameOf(nameOrUrl));
  const obj = messageFromJson(t, json, '', root);
  const msg = t.fromObject(obj);
  const err = t.verify(msg);
  if (err) throw new ProtoJsonError(`${fullName(t)}: ${err}`);
  return msg;
}

/** Encodes proto3 JSON of the named Envoy message to bytes (strict: unknown fields throw). */
export function encodeProtoJson(nameOrUrl: string, json: unknown): Uint8Array {
  const t = fullEnvoyRoot().lookupType(typeNameOf(nameOrUrl));
  return t.encode(fromProtoJson(nameOrUrl, json)).finish();
}
