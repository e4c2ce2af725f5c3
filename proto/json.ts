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

// Read once: through the import's namespace object every `protobuf.X` is a getter call,
// and the checks below run for every field of every resource encoded.
const { Type, Enum, MapField } = protobuf;

/** Scalar types that must hold an integer, and those that must also be non-negative. */
const INTEGER_TYPES = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64']);
const UNSIGNED_TYPES = new Set(['uint32', 'uint64', 'fixed32', 'fixed64']);

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

// protobufjs computes `fullName` by walking the parents on every read, and `lookup`
// searches the namespace tree: both showed up as a third of the encoding time of a
// mesh-wide change, so both are remembered (types never change once loaded).
const fullNames = new WeakMap<protobuf.ReflectionObject, string>();
const lookups = new WeakMap<protobuf.Root, Map<string, protobuf.ReflectionObject | null>>();

function fullName(t: protobuf.Type): string {
  let n = fullNames.get(t);
  if (n === undefined) {
    n = t.fullName.replace(/^\./, '');
    fullNames.set(t, n);
  }
  return n;
}

function lookupIn(root: protobuf.Root, name: string): protobuf.ReflectionObject | null {
  let m = lookups.get(root);
  if (!m) lookups.set(root, (m = new Map()));
  let r = m.get(name);
  if (r === undefined) m.set(name, (r = root.lookup(name)));
  return r;
}

function typeIn(root: protobuf.Root, nameOrUrl: string): protobuf.Type {
  const t = lookupIn(root, typeNameOf(nameOrUrl));
  // lookupType's own error for a name that is missing or not a message.
  return t instanceof Type ? t : root.lookupType(typeNameOf(nameOrUrl));
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

// google.protobuf.Value's fields are camelCase in the bundle (protobufjs's own copy of
// the well-known types), unlike Envoy's snake_case: a snake_case key here would be
// dropped by fromObject and the value sent empty.
function structValue(v: unknown): Record<string, unknown> {
  if (v === null) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(structValue) } };
  return { structValue: struct(v as Record<string, unknown>) };
}

function struct(v: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) fields[k] = structValue(x);
  return { fields };
}

/** How a message type is read from JSON: one of the well-known forms, or field by field. */
type MessageForm = 'duration' | 'wrapper' | 'struct' | 'value' | 'any' | 'fields';
const forms = new WeakMap<protobuf.Type, MessageForm>();

function formOf(t: protobuf.Type): MessageForm {
  let f = forms.get(t);
  if (f === undefined) {
    const name = fullName(t);
    f =
      name === 'google.protobuf.Duration' ? 'duration'
      : WRAPPERS.has(name) ? 'wrapper'
      : name === 'google.protobuf.Struct' ? 'struct'
      : name === 'google.protobuf.Value' ? 'value'
      : name === 'google.protobuf.Any' ? 'any'
      : 'fields';
    forms.set(t, f);
  }
  return f;
}

function messageFromJson(t: protobuf.Type, v: unknown, path: string, root: protobuf.Root): Record<string, unknown> {
  switch (formOf(t)) {
    case 'duration':
      return parseDuration(v, path);
    case 'wrapper': {
      // Checked like the field it wraps: a -1 for a UInt32Value would otherwise be sent as 4294967295.
      const inner = typeof v === 'object' && v !== null && 'value' in v ? (v as { value: unknown }).value : v;
      const f = t.fields.value;
      f.resolve();
      return { value: single(f, inner, path, root) };
    }
    case 'struct':
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProtoJsonError(`${path}: Struct must be a JSON object`);
      return struct(v as Record<string, unknown>);
    case 'value':
      return structValue(v);
    case 'any':
      return anyFromJson(v, path, root);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ProtoJsonError(`${path || fullName(t)}: expected an object for message ${fullName(t)}, got ${JSON.stringify(v)}`);
  }
  const out: Record<string, unknown> = {};
  const fields = t.fields;
  let oneofSeen: Map<string, string> | undefined;
  for (const key in v) {
    const value = (v as Record<string, unknown>)[key];
    const f = fields[key];
    if (!f) {
      const known = Object.keys(fields).sort().join(', ');
      throw new ProtoJsonError(`${join(path, key)}: unknown field of ${fullName(t)}; known fields: ${known}`);
    }
    if (value === null || value === undefined) continue;
    if (f.partOf) {
      oneofSeen ??= new Map();
      const prev = oneofSeen.get(f.partOf.name);
      if (prev) throw new ProtoJsonError(`${join(path, key)}: oneof ${f.partOf.name} already set by ${prev}`);
      oneofSeen.set(f.partOf.name, key);
    }
    out[key] = fieldFromJson(f, value, join(path, key), root);
  }
  return out;
}

function fieldFromJson(f: protobuf.Field, value: unknown, path: string, root: protobuf.Root): unknown {
  f.resolve();
  if (f instanceof MapField) {
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
  if (rt instanceof Type) return messageFromJson(rt, value, path, root);
  if (rt instanceof Enum) {
    if (typeof value === 'string') {
      if (!Object.prototype.hasOwnProperty.call(rt.values, value)) {
        throw new ProtoJsonError(`${path}: "${value}" is not a value of ${rt.name}; valid: ${Object.keys(rt.values).join(', ')}`);
      }
      // As a number: what protobufjs's fromObject makes of a name, and what its encoder writes.
      return rt.values[value];
    }
    if (typeof value !== 'number') throw new ProtoJsonError(`${path}: enum must be a name or number`);
    if (rt.valuesById[value] === undefined) throw new ProtoJsonError(`${path}: ${value} is not a value of ${rt.name}`);
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
      if (INTEGER_TYPES.has(f.type) && !Number.isInteger(n)) throw new ProtoJsonError(`${path}: expected an integer, got ${value}`);
      if (UNSIGNED_TYPES.has(f.type) && n < 0) throw new ProtoJsonError(`${path}: expected a non-negative integer, got ${value}`);
      return n;
    }
  }
}

function anyFromJson(v: unknown, path: string, root: protobuf.Root): { type_url: string; value: Uint8Array } {
  if (typeof v !== 'object' || v === null) throw new ProtoJsonError(`${path}: Any must be an object with "@type"`);
  const { '@type': url, ...rest } = v as Record<string, unknown>;
  if (typeof url !== 'string' || url.length === 0) throw new ProtoJsonError(`${path}.@type: Any needs a type URL`);
  const inner = lookupIn(root, typeNameOf(url));
  if (!(inner instanceof Type)) throw new ProtoJsonError(`${path}.@type: unknown message type "${url}"`);
  // WKTs with a special JSON form carry it under "value" inside an Any.
  const special = /^google\.protobuf\.(Duration|Struct|Value|\w+Value)$/.test(fullName(inner));
  const obj = messageFromJson(inner, special ? rest.value : rest, path, root);
  return { type_url: url, value: inner.encode(obj).finish() };
}

/** Converts proto3 JSON of the named Envoy message into a protobufjs Message; throws ProtoJsonError with a path. */
export function fromProtoJson(nameOrUrl: string, json: unknown): protobuf.Message {
  const root = fullEnvoyRoot();
  const t = typeIn(root, nameOrUrl);
  const obj = messageFromJson(t, json, '', root);
  const msg = t.fromObject(obj);
  const err = t.verify(msg);
  if (err) throw new ProtoJsonError(`${fullName(t)}: ${err}`);
  return msg;
}

/**
 * Encodes proto3 JSON of the named Envoy message to bytes (strict: unknown fields throw).
 * The checked plain object goes to protobufjs's encoder as it is: messageFromJson already
 * gives every field the type the encoder writes (numbers for enums, {seconds, nanos},
 * Any as bytes), so fromObject's copy into Message instances and verify's second walk
 * (about half the encoding time of a mesh-wide change's new resources) are skipped. The
 * bytes are those of encoding fromProtoJson's message (test/unit/proto/json.test.ts).
 */
export function encodeProtoJson(nameOrUrl: string, json: unknown): Uint8Array {
  const root = fullEnvoyRoot();
  const t = typeIn(root, nameOrUrl);
  return t.encode(messageFromJson(t, json, '', root)).finish();
}
