/**
 * A checker for the protoc-gen-validate (PGV) rules that Envoy's v3 protos declare
 * (`[(validate.rules).string.min_len = 1]`, `option (validate.required) = true` on
 * oneofs, ...). Envoy runs these rules on every resource it accepts
 * (https://github.com/bufbuild/protoc-gen-validate#constraint-rules), so a resource that
 * fails them would be NACKed by a real Envoy even though it encodes fine.
 *
 * The rules are read from Envoy's .proto sources (protobufjs `parsedOptions`, loaded
 * once, lazily, from the pinned @grpc/grpc-js-xds package through the project's
 * manifest): the JSON bundle flattens options and loses list-valued and empty-message
 * rules (`in: [...]`, `duration = {gt {}}`). Where the sources cannot be found, the
 * bundle's flattened options are used instead (then `in`/`not_in` go unchecked).
 * Checked: message/any/duration required, string lengths, prefix, suffix, contains,
 * pattern, in/not_in, well_known_regex and well-known formats, numeric
 * gt/gte/lt/lte/const/in/not_in, enum defined_only/in/not_in, repeated
 * min/max/unique/items, map min/max_pairs/keys/values, duration bounds, required oneofs.
 * The check recurses into nested messages and into Any by its type URL.
 *
 * Input: a message in protobufjs object form as `objectOf` makes it (Any kept as
 * `{type_url, value}`); output: every violation, with its field path.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as protobuf from 'protobufjs';
import type { FieldViolation } from '../lib/errors';
import { fullEnvoyRoot, typeNameOf } from './index';

let sourceRoot: protobuf.Root | null | undefined;

/** Envoy's protos loaded from source (full rule fidelity), or null when the sources are not at hand. */
function loadSourceRoot(): protobuf.Root | null {
  // This file runs from <repo>/dist/proto or <repo>/proto; the manifest lives in <repo>/proto.
  for (const repo of [path.resolve(__dirname, '../..'), path.resolve(__dirname, '..')]) {
    const manifestFile = path.join(repo, 'proto/manifest.json');
    const includeFile = path.join(repo, 'proto/include-paths.js');
    if (!fs.existsSync(manifestFile) || !fs.existsSync(includeFile)) continue;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const dirs: string[] = require(includeFile).includePaths(repo);
      const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
      const root = new protobuf.Root();
      root.resolvePath = (_origin, target) => {
        if (path.isAbsolute(target)) return target;
        for (const d of dirs) {
          const p = path.join(d, target);
          if (fs.existsSync(p)) return p;
        }
        return target;
      };
      root.loadSync(manifest.envoy, { keepCase: true });
      root.resolveAll();
      return root;
    } catch {
      return null;
    }
  }
  return null;
}

/** The root whose reflection carries the rules: Envoy sources when available, else the bundle. */
export function validationRoot(): protobuf.Root {
  if (sourceRoot === undefined) sourceRoot = loadSourceRoot();
  return sourceRoot ?? fullEnvoyRoot();
}

type Rules = Record<string, any>;

const ruleCache = new WeakMap<protobuf.Field, Rules | null>();

/** The PGV rules of a field as a nested object (`{string: {min_len: 1}}`), or null. */
export function fieldRules(f: protobuf.Field): Rules | null {
  if (ruleCache.has(f)) return ruleCache.get(f)!;
  let rules: Rules | null = null;
  const parsed = (f as unknown as { parsedOptions?: Record<string, any>[] }).parsedOptions;
  if (Array.isArray(parsed)) {
    for (const entry of parsed) {
      if (entry && typeof entry === 'object' && '(validate.rules)' in entry) rules = deepMerge(rules ?? {}, entry['(validate.rules)']);
    }
    ruleCache.set(f, rules);
    return rules;
  }
  for (const [key, value] of Object.entries(f.options ?? {})) {
    if (!key.startsWith('(validate.rules).')) continue;
    rules ??= {};
    const parts = key.slice('(validate.rules).'.length).split('.');
    let node = rules;
    for (const p of parts.slice(0, -1)) node = node[p] ??= {};
    node[parts[parts.length - 1]] = value;
  }
  ruleCache.set(f, rules);
  return rules;
}

function deepMerge(a: Rules, b: Rules): Rules {
  for (const [k, v] of Object.entries(b ?? {})) {
    if (v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object') a[k] = deepMerge(a[k], v);
    else a[k] = v;
  }
  return a;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

const OBJECT_OPTIONS: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: false, oneofs: false };

/** Decoded bytes in the object form `validateMessage` expects. */
export function objectOf(t: protobuf.Type, bytes: Uint8Array): Record<string, any> {
  return t.toObject(t.decode(bytes), OBJECT_OPTIONS);
}

// Envoy's header regexes (validate.proto, KnownRegex): strict RFC 7230 forms and the
// loose form (strict = false) that only forbids NUL, CR and LF.
const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;

function durationNanos(d: { seconds?: number; nanos?: number } | undefined): number {
  return Number(d?.seconds ?? 0) * 1e9 + Number(d?.nanos ?? 0);
}

function fmtDuration(d: { seconds?: number; nanos?: number }): string {
  return `${durationNanos(d) / 1e9}s`;
}

function checkNumber(r: Rules, v: number, path: string, out: FieldViolation[]): void {
  if (r.const !== undefined && v !== Number(r.const)) out.push({ field: path, message: `value must equal ${r.const}, got ${v}` });
  if (r.gt !== undefined && !(v > Number(r.gt))) out.push({ field: path, message: `value must be greater than ${r.gt}, got ${v}` });
  if (r.gte !== undefined && !(v >= Number(r.gte))) out.push({ field: path, message: `value must be at least ${r.gte}, got ${v}` });
  if (r.lt !== undefined && !(v < Number(r.lt))) out.push({ field: path, message: `value must be less than ${r.lt}, got ${v}` });
  if (r.lte !== undefined && !(v <= Number(r.lte))) out.push({ field: path, message: `value must be at most ${r.lte}, got ${v}` });
  if (r.in !== undefined && !list(r.in).map(Number).includes(v)) out.push({ field: path, message: `value must be in list ${JSON.stringify(list(r.in))}, got ${v}` });
  if (r.not_in !== undefined && list(r.not_in).map(Number).includes(v)) out.push({ field: path, message: `value must not be in list ${JSON.stringify(list(r.not_in))}, got ${v}` });
}

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;

function checkString(r: Rules, v: string, path: string, out: FieldViolation[]): void {
  if (r.ignore_empty && v === '') return;
  const len = [...v].length;
  const bytes = Buffer.byteLength(v);
  if (r.min_len !== undefined && len < Number(r.min_len)) out.push({ field: path, message: `value length must be at least ${r.min_len}` });
  if (r.max_len !== undefined && len > Number(r.max_len)) out.push({ field: path, message: `value length must be at most ${r.max_len}` });
  if (r.len !== undefined && len !== Number(r.len)) out.push({ field: path, message: `value length must be ${r.len}` });
  if (r.min_bytes !== undefined && bytes < Number(r.min_bytes)) out.push({ field: path, message: `value must be at least ${r.min_bytes} bytes` });
  if (r.max_bytes !== undefined && bytes > Number(r.max_bytes)) out.push({ field: path, message: `value must be at most ${r.max_bytes} bytes` });
  if (r.const !== undefined && v !== r.const) out.push({ field: path, message: `value must equal "${r.const}"` });
  if (r.prefix !== undefined && !v.startsWith(r.prefix)) out.push({ field: path, message: `value must start with "${r.prefix}"` });
  if (r.suffix !== undefined && !v.endsWith(r.suffix)) out.push({ field: path, message: `value must end with "${r.suffix}"` });
  if (r.contains !== undefined && !v.includes(r.contains)) out.push({ field: path, message: `value must contain "${r.contains}"` });
  if (r.in !== undefined && !list(r.in).includes(v)) out.push({ field: path, message: `value must be in list ${JSON.stringify(list(r.in))}` });
  if (r.not_in !== undefined && list(r.not_in).includes(v)) out.push({ field: path, message: `value must not be in list ${JSON.stringify(list(r.not_in))}` });
  if (r.pattern !== undefined) {
    let re: RegExp | undefined;
    try {
      re = new RegExp(r.pattern, 'u');
    } catch {
      re = undefined; // an RE2 construct JS lacks: skip rather than report a false violation
    }
    if (re && !re.test(v)) out.push({ field: path, message: `value does not match regex pattern "${r.pattern}"` });
  }
  if (r.well_known_regex !== undefined) {
    const strict = r.strict !== false;
    const re =
      r.well_known_regex === 'HTTP_HEADER_NAME' || r.well_known_regex === 1
        ? strict
          ? HEADER_NAME_STRICT
          : HEADER_LOOSE
        : strict
          ? HEADER_VALUE_STRICT
          : HEADER_LOOSE;
    if (!re.test(v)) out.push({ field: path, message: `value does not match ${r.well_known_regex} regex` });
  }
  if (r.hostname && !HOSTNAME.test(v)) out.push({ field: path, message: 'value must be a valid hostname' });
  if (r.ip && !isIp(v)) out.push({ field: path, message: 'value must be a valid IP address' });
  if (r.ipv4 && !isIpv4(v)) out.push({ field: path, message: 'value must be a valid IPv4 address' });
  if (r.ipv6 && !isIpv6(v)) out.push({ field: path, message: 'value must be a valid IPv6 address' });
  if (r.address && !(HOSTNAME.test(v) || isIp(v))) out.push({ field: path, message: 'value must be a valid hostname or IP address' });
  if (r.uri && !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(v)) out.push({ field: path, message: 'value must be an absolute URI' });
}

function isIpv4(v: string): boolean {
  const p = v.split('.');
  return p.length === 4 && p.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255);
}
function isIpv6(v: string): boolean {
  return v.includes(':') && /^[0-9a-fA-F:.]+$/.test(v) && (v.match(/::/g) ?? []).length <= 1;
}
function isIp(v: string): boolean {
  return isIpv4(v) || isIpv6(v);
}

/** Checks one (non-repeated) value against its scalar/message rules and recurses into messages. */
function checkValue(f: protobuf.Field, r: Rules | null, v: any, path: string, out: FieldViolation[], root: protobuf.Root): void {
  const rt = f.resolvedType;
  if (rt instanceof protobuf.Type) {
    const name = rt.fullName.replace(/^\./, '');
    if (r?.duration && name === 'google.protobuf.Duration') {
      // `gt {}` arrives as an empty object: compare against zero.
      const n = durationNanos(v);
      const d = r.duration;
      if (d.gt && !(n > durationNanos(d.gt))) out.push({ field: path, message: `value must be greater than ${fmtDuration(d.gt)}` });
      if (d.gte && !(n >= durationNanos(d.gte))) out.push({ field: path, message: `value must be at least ${fmtDuration(d.gte)}` });
      if (d.lt && !(n < durationNanos(d.lt))) out.push({ field: path, message: `value must be less than ${fmtDuration(d.lt)}` });
      if (d.lte && !(n <= durationNanos(d.lte))) out.push({ field: path, message: `value must be at most ${fmtDuration(d.lte)}` });
    }
    if (r?.message?.skip) return;
    if (name === 'google.protobuf.Any') {
      checkAny(v, path, out, root);
      return;
    }
    walk(rt, v, path, out, root);
    return;
  }
  if (rt instanceof protobuf.Enum) {
    if (r?.enum?.defined_only && !Object.values(rt.values).includes(Number(v))) {
      out.push({ field: path, message: `value must be one of the defined enum values, got ${v}` });
    }
    if (r?.enum?.const !== undefined && Number(v) !== Number(r.enum.const)) out.push({ field: path, message: `value must equal ${r.enum.const}` });
    const num = (x: unknown) => (typeof x === 'string' ? rt.values[x] : Number(x));
    if (r?.enum?.in !== undefined && !list(r.enum.in).map(num).includes(Number(v))) out.push({ field: path, message: `value must be in list ${JSON.stringify(list(r.enum.in))}` });
    if (r?.enum?.not_in !== undefined && list(r.enum.not_in).map(num).includes(Number(v))) out.push({ field: path, message: `value must not be in list ${JSON.stringify(list(r.enum.not_in))}` });
    return;
  }
  if (!r) return;
  if (typeof v === 'string' && r.string) checkString(r.string, v, path, out);
  else if (typeof v === 'number' && r[f.type]) checkNumber(r[f.type], v, path, out);
  else if (typeof v === 'boolean' && r.bool?.const !== undefined && v !== r.bool.const) out.push({ field: path, message: `value must equal ${r.bool.const}` });
  else if (v instanceof Uint8Array && r.bytes) {
    if (r.bytes.min_len !== undefined && v.length < Number(r.bytes.min_len)) out.push({ field: path, message: `value length must be at least ${r.bytes.min_len} bytes` });
    if (r.bytes.max_len !== undefined && v.length > Number(r.bytes.max_len)) out.push({ field: path, message: `value length must be at most ${r.bytes.max_len} bytes` });
  }
}

function checkAny(v: any, path: string, out: FieldViolation[], root: protobuf.Root): void {
  const url: string | undefined = v?.type_url;
  if (!url) {
    out.push({ field: path, message: 'Any has no type_url' });
    return;
  }
  const t = root.lookup(typeNameOf(url));
  if (!(t instanceof protobuf.Type)) {
    out.push({ field: `${path}.type_url`, message: `unknown message type "${url}"` });
    return;
  }
  let inner: Record<string, any>;
  try {
    inner = objectOf(t, v.value ?? new Uint8Array());
  } catch (err) {
    out.push({ field: path, message: `cannot decode ${url}: ${(err as Error).message}` });
    return;
  }
  walk(t, inner, path, out, root);
}

function walk(t: protobuf.Type, obj: Record<string, any>, path: string, out: FieldViolation[], root: protobuf.Root): void {
  const at = (name: string) => (path ? `${path}.${name}` : name);
  for (const o of t.oneofsArray) {
    if (o.options?.['(validate.required)'] && !o.oneof.some((n) => obj[n] !== undefined && obj[n] !== null)) {
      out.push({ field: at(o.name), message: `exactly one of ${o.oneof.join(', ')} must be set` });
    }
  }
  for (const f of t.fieldsArray) {
    f.resolve();
    const r = fieldRules(f);
    const v = obj[f.name];
    const p = at(f.name);
    const present = v !== undefined && v !== null;
    if (!present) {
      // A member of a oneof is validated only when it is the one set (PGV semantics).
      if (f.partOf) continue;
      if (r?.message?.required || r?.any?.required || r?.duration?.required || r?.timestamp?.required) {
        out.push({ field: p, message: 'value is required' });
      }
      if (Number(r?.repeated?.min_items ?? 0) > 0) out.push({ field: p, message: `value must contain at least ${r?.repeated?.min_items} item(s)` });
      if (Number(r?.map?.min_pairs ?? 0) > 0) out.push({ field: p, message: `value must contain at least ${r?.map?.min_pairs} pair(s)` });
      // proto3 scalars are absent when default: PGV still checks the default value.
      if (!f.repeated && !(f instanceof protobuf.MapField) && !(f.resolvedType instanceof protobuf.Type) && r && !f.partOf && !f.options?.proto3_optional) {
        const def = f.resolvedType instanceof protobuf.Enum ? 0 : f.type === 'string' ? '' : f.type === 'bool' ? false : f.type === 'bytes' ? new Uint8Array() : 0;
        checkValue(f, r, def, p, out, root);
      }
      continue;
    }
    if (f instanceof protobuf.MapField) {
      const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      if (r?.map?.min_pairs !== undefined && entries.length < Number(r.map.min_pairs)) out.push({ field: p, message: `value must contain at least ${r.map.min_pairs} pair(s)` });
      if (r?.map?.max_pairs !== undefined && entries.length > Number(r.map.max_pairs)) out.push({ field: p, message: `value must contain at most ${r.map.max_pairs} pair(s)` });
      for (const [k, x] of entries) {
        if (r?.map?.keys?.string) checkString(r.map.keys.string, k, `${p}["${k}"]`, out);
        checkValue(f, r?.map?.values ?? null, x, `${p}["${k}"]`, out, root);
      }
      continue;
    }
    if (f.repeated) {
      const arr = v as unknown[];
      const rr = r?.repeated;
      if (rr?.min_items !== undefined && arr.length < Number(rr.min_items)) out.push({ field: p, message: `value must contain at least ${rr.min_items} item(s)` });
      if (rr?.max_items !== undefined && arr.length > Number(rr.max_items)) out.push({ field: p, message: `value must contain at most ${rr.max_items} item(s)` });
      if (rr?.unique) {
        const seen = new Set(arr.map((x) => JSON.stringify(x)));
        if (seen.size !== arr.length) out.push({ field: p, message: 'repeated value must contain unique items' });
      }
      arr.forEach((x, i) => checkValue(f, rr?.items ?? null, x, `${p}[${i}]`, out, root));
      continue;
    }
    checkValue(f, r, v, p, out, root);
  }
}

/** Every PGV violation of a message given in `objectOf` form; empty when valid. */
export function validateMessage(nameOrUrl: string, obj: Record<string, any>): FieldViolation[] {
  const root = validationRoot();
  const t = root.lookupType(typeNameOf(nameOrUrl));
  const out: FieldViolation[] = [];
  walk(t, obj, '', out, root);
  return out;
}

/** Every PGV violation of an encoded message of the named type. */
export function validateBytes(nameOrUrl: string, bytes: Uint8Array): FieldViolation[] {
  const t = validationRoot().lookupType(typeNameOf(nameOrUrl));
  return validateMessage(nameOrUrl, objectOf(t, bytes));
}

/** Every PGV violation of an Any (resource on the wire), by its type URL. */
export function validateAny(any: { type_url: string; value: Uint8Array }): FieldViolation[] {
  const out: FieldViolation[] = [];
  checkAny(any, '', out, validationRoot());
  return out.map((v) => ({ field: v.field.replace(/^\./, ''), message: v.message }));
}
