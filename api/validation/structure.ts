/**
 * Structural check of a spec against the protobuf descriptor of its Kuma message:
 * unknown fields, wrong JSON types, enum names, maps, lists, oneofs. It follows
 * protobuf's JSON mapping (https://protobuf.dev/programming-guides/json/) with Kuma's
 * camelCase field names, but is stricter on numbers: quoted 32-bit integers are refused
 * so every consumer can rely on real numbers.
 */
// light: the reflection classes only (this module needs no .proto parser).
import * as protobuf from 'protobufjs/light';
import type { ViolationCollector } from '../../lib/errors';
import { kumaRoot } from '../../proto/index';
import { checkBase64, fieldPath, indexPath, isRecord, keyPath, show } from './common';

const INT_RANGES: Readonly<Record<string, [number, number]>> = {
  int32: [-2147483648, 2147483647],
  sint32: [-2147483648, 2147483647],
  sfixed32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  fixed32: [0, 4294967295],
};
const INT64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);
const WRAPPERS: Readonly<Record<string, string>> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

/** The protobuf message type of a Kuma resource spec, e.g. `kuma.mesh.v1alpha1.Dataplane`. */
export function specMessage(name: string): protobuf.Type {
  return kumaRoot().lookupType(name);
}

/**
 * Checks `value` against message `type`, reporting under `path`. `extraKnown` names
 * keys that are allowed beside the message's fields (the resource's meta fields).
 */
export function checkMessage(
  v: ViolationCollector,
  path: string,
  value: unknown,
  type: protobuf.Type,
  extraKnown: readonly string[] = [],
): void {
  if (value === null || value === undefined) return;
  const special = checkWellKnown(v, path, value, type);
  if (special) return;
  if (!isRecord(value)) {
    v.add(path, `must be an object, got ${show(value)}`);
    return;
  }
  const known = [...extraKnown, ...type.fieldsArray.map((f) => f.name)];
  for (const key of Object.keys(value)) {
    if (extraKnown.includes(key)) continue;
    const field = Object.prototype.hasOwnProperty.call(type.fields, key) ? type.fields[key] : undefined;
    const p = fieldPath(path, key);
    if (!field) {
      const camel = key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
      const hint = camel !== key && known.includes(camel) ? ` (did you mean "${camel}"?)` : '';
      v.add(p, `unknown field${hint}; known fields: ${known.join(', ')}`);
      continue;
    }
    checkField(v, p, value[key], field);
  }
  for (const oneof of type.oneofsArray) {
    // proto3 `optional` creates a one-member synthetic oneof; only real oneofs matter.
    if (oneof.fieldsArray.length < 2) continue;
    const present = oneof.fieldsArray.filter((f) => value[f.name] !== undefined && value[f.name] !== null).map((f) => f.name);
    if (present.length > 1) v.add(path, `only one of ${oneof.fieldsArray.map((f) => f.name).join(', ')} may be set, got ${present.join(' and ')}`);
  }
}

function checkField(v: ViolationCollector, path: string, value: unknown, field: protobuf.Field): void {
  if (value === null || value === undefined) return; // JSON null means "not set"
  if (field.map) {
    if (!isRecord(value)) {
      v.add(path, `must be a map (object), got ${show(value)}`);
      return;
    }
    for (const [k, item] of Object.entries(value)) checkSingle(v, keyPath(path, k), item, field, true);
    return;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) {
      v.add(path, `must be a list, got ${show(value)}`);
      return;
    }
    value.forEach((item, i) => checkSingle(v, indexPath(path, i), item, field, false));
    return;
  }
  checkSingle(v, path, value, field, false);
}

function checkSingle(v: ViolationCollector, path: string, value: unknown, field: protobuf.Field, inMap: boolean): void {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) {
    if (value === null && !inMap) return;
    checkMessage(v, path, value, resolved);
    return;
  }
  if (resolved instanceof protobuf.Enum) {
    const names = Object.keys(resolved.values);
    if (typeof value === 'string' && names.includes(value)) return;
    if (typeof value === 'number' && Object.values(resolved.values).includes(value)) return;
    v.add(path, `must be one of ${names.join(', ')}, got ${show(value)}`);
    return;
  }
  checkScalar(v, path, value, field.type);
}

function checkScalar(v: ViolationCollector, path: string, value: unknown, type: string): void {
  const range = INT_RANGES[type];
  if (range) {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      v.add(path, `must be an integer, got ${show(value)}`);
    } else if (value < range[0] || value > range[1]) {
      v.add(path, `must be in ${range[0]}..${range[1]}, got ${value}`);
    }
    return;
  }
  if (INT64.has(type)) {
    // 64-bit integers may be quoted in protobuf JSON because doubles cannot hold them all.
    const ok = (typeof value === 'number' && Number.isSafeInteger(value)) || (typeof value === 'string' && /^-?\d{1,20}$/.test(value));
    if (!ok) v.add(path, `must be an integer, got ${show(value)}`);
    else if (type.startsWith('u') && String(value).startsWith('-')) v.add(path, `must not be negative, got ${show(value)}`);
    return;
  }
  switch (type) {
    case 'double':
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value)) v.add(path, `must be a number, got ${show(value)}`);
      return;
    case 'bool':
      if (typeof value !== 'boolean') v.add(path, `must be a boolean (true or false), got ${show(value)}`);
      return;
    case 'string':
      if (typeof value !== 'string') v.add(path, `must be a string, got ${show(value)}`);
      return;
    case 'bytes': {
      if (typeof value !== 'string') {
        v.add(path, `must be a base64 string, got ${show(value)}`);
        return;
      }
      const problem = checkBase64(value);
      if (problem) v.add(path, problem);
      return;
    }
    default:
      v.add(path, `has unsupported protobuf type ${type}`);
  }
}

// Types whose JSON form is not an object of fields (protobuf JSON mapping, "well-known types").
function checkWellKnown(v: ViolationCollector, path: string, value: unknown, type: protobuf.Type): boolean {
  const name = type.fullName.replace(/^\./, '');
  switch (name) {
    case 'google.protobuf.Struct':
      if (!isRecord(value)) v.add(path, `must be an object, got ${show(value)}`);
      return true;
    case 'google.protobuf.Value':
      return true;
    case 'google.protobuf.ListValue':
      if (!Array.isArray(value)) v.add(path, `must be a list, got ${show(value)}`);
      return true;
    case 'google.protobuf.Duration':
      if (typeof value !== 'string' || !/^-?\d+(\.\d{1,9})?s$/.test(value)) v.add(path, `must be a duration in seconds like "1.5s", got ${show(value)}`);
      return true;
    case 'google.protobuf.Timestamp':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) v.add(path, `must be an RFC 3339 timestamp, got ${show(value)}`);
      return true;
  }
  const wrapped = WRAPPERS[name];
  if (wrapped) {
    checkScalar(v, path, value, wrapped);
    return true;
  }
  return false;
}

/** Checks a spec with a fixed set of string fields (types without a protobuf message, e.g. Config). */
export function checkStringFields(v: ViolationCollector, value: unknown, fields: readonly string[], extraKnown: readonly string[]): void {
  if (!isRecord(value)) return;
  for (const [key, item] of Object.entries(value)) {
    if (extraKnown.includes(key)) continue;
    if (!fields.includes(key)) v.add(key, `unknown field; known fields: ${[...extraKnown, ...fields].join(', ')}`);
    else if (item !== null && item !== undefined && typeof item !== 'string') v.add(key, `must be a string, got ${show(item)}`);
  }
}
