/**
 * Building blocks every resource validator shares: field paths, safe access to
 * untrusted JSON, names, ports, addresses, tags and selectors. Each check appends to a
 * ViolationCollector and never throws, so one pass reports every problem.
 */
import net from 'node:net';
import type { ViolationCollector } from '../../lib/errors';
import { PROTOCOL_TAG, SERVICE_TAG, checkTagKey, checkTagValue } from '../../lib/naming/tags';

/** Path of a named field below `base` (`networking` + `address` -> `networking.address`). */
export function fieldPath(base: string, name: string): string {
  return base ? `${base}.${name}` : name;
}

/** Path of a list element (`networking.inbound` + 0 -> `networking.inbound[0]`). */
export function indexPath(base: string, i: number): string {
  return `${base}[${i}]`;
}

/** Path of a map entry (`tags` + `kuma.io/service` -> `tags["kuma.io/service"]`). */
export function keyPath(base: string, key: string): string {
  return `${base}[${JSON.stringify(key)}]`;
}

/** True for a JSON object (not null, not a list). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * An own property of an untrusted object, or undefined. Never follows the prototype,
 * so keys like `constructor` or `__proto__` cannot reach built-ins.
 */
export function own(o: unknown, key: string): unknown {
  return isRecord(o) && Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

/** The value as a list, or [] when it is not one (the structure check reports that). */
export function listOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** True when a field is present with a non-null value. */
export function isSet(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/** A value for a message: short JSON for scalars, a word for containers. */
export function show(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (isRecord(v)) return 'an object';
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

// Kuma names must be usable as Kubernetes object names (RFC 1123 subdomain).
const NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;
const NAME_RULE = "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";

/** Explains why a resource or mesh name is invalid, or returns undefined. */
export function checkName(name: unknown): string | undefined {
  if (name === undefined || name === null || name === '') return `is required; ${NAME_RULE}`;
  if (typeof name !== 'string') return `must be a string, got ${show(name)}`;
  if (name.length > 253 || !NAME.test(name)) return `${show(name)} is not a valid name; ${NAME_RULE}`;
  return undefined;
}

/** Checks a port: `must be in 1..65535, got 70000`; absent is an error only when required. */
export function checkPort(v: ViolationCollector, path: string, value: unknown, required: boolean): void {
  if (!isSet(value)) {
    if (required) v.add(path, 'is required; must be in 1..65535');
    return;
  }
  // Non-integers are reported by the structure check; only range is checked here.
  if (typeof value !== 'number' || !Number.isInteger(value)) return;
  if (value < 1 || value > 65535) v.add(path, `must be in 1..65535, got ${value}`);
}

// RFC 1123 host name: dot-separated labels of letters, digits and '-'.
const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;

/** Checks an IPv4/IPv6 address or host name; absent is an error only when required. */
export function checkAddress(v: ViolationCollector, path: string, value: unknown, required: boolean, ipOnly = false): void {
  const what = ipOnly ? 'an IPv4 or IPv6 address' : 'an IPv4 or IPv6 address or a hostname';
  if (!isSet(value) || value === '') {
    if (required) v.add(path, `is required; must be ${what}`);
    return;
  }
  if (typeof value !== 'string') return; // reported by the structure check
  if (net.isIP(value) !== 0) return;
  if (!ipOnly && HOSTNAME.test(value) && !/^[0-9.]+$/.test(value)) return;
  v.add(path, `must be ${what}, got ${show(value)}`);
}

/** Protocols Kuma accepts in `kuma.io/protocol` (Kuma's core/resources/apis/mesh protocols). */
export const PROTOCOLS = ['grpc', 'http', 'http2', 'kafka', 'tcp'] as const;

/** Options of a tag-map check. */
export interface TagRules {
  /** The map must carry a non-empty `kuma.io/service`. */
  requireService?: boolean;
  /** Values may be `*` (selectors). */
  allowWildcard?: boolean;
  /** The map must have at least one entry. */
  requireNonEmpty?: boolean;
}

/** Checks a tag map: key and value syntax, `kuma.io/service` and `kuma.io/protocol`. */
export function checkTags(v: ViolationCollector, path: string, tags: unknown, rules: TagRules): void {
  if (!isSet(tags)) {
    if (rules.requireService) v.add(path, `is required; must contain tag "${SERVICE_TAG}"`);
    else if (rules.requireNonEmpty) v.add(path, 'is required; must have at least one tag');
    return;
  }
  if (!isRecord(tags)) return; // reported by the structure check
  const keys = Object.keys(tags);
  if (keys.length === 0 && rules.requireNonEmpty && !rules.requireService) {
    v.add(path, 'must have at least one tag');
  }
  if (rules.requireService && !keys.includes(SERVICE_TAG)) v.add(path, `must contain tag "${SERVICE_TAG}"`);
  for (const key of keys) {
    const p = keyPath(path, key);
    const keyProblem = checkTagKey(key);
    if (keyProblem) v.add(p, keyProblem);
    const value = tags[key];
    if (typeof value !== 'string') continue; // reported by the structure check
    const valueProblem = checkTagValue(value, rules.allowWildcard ?? false);
    if (valueProblem) v.add(p, valueProblem);
    else if (key === PROTOCOL_TAG && !(PROTOCOLS as readonly string[]).includes(value) && value !== '*') {
      v.add(p, `must be one of ${PROTOCOLS.join(', ')}, got ${show(value)}`);
    }
  }
}

/** Options of a selector-list check. */
export interface SelectorRules {
  /** Each `match` must contain `kuma.io/service` (value may be `*`). */
  requireService?: boolean;
  /** Each `match` may contain only `kuma.io/service` (destinations of routing policies). */
  onlyService?: boolean;
}

/** Checks `sources`/`destinations`: a non-empty list of `{match: tags}` with wildcard values allowed. */
export function checkSelectors(v: ViolationCollector, path: string, list: unknown, rules: SelectorRules): void {
  if (!isSet(list) || (Array.isArray(list) && list.length === 0)) {
    v.add(path, 'must have at least one element');
    return;
  }
  listOf(list).forEach((sel, i) => {
    const p = fieldPath(indexPath(path, i), 'match');
    const match = own(sel, 'match');
    if (isRecord(sel) && (!isSet(match) || (isRecord(match) && Object.keys(match).length === 0))) {
      v.add(p, rules.requireService ? `must have at least one tag, including "${SERVICE_TAG}"` : 'must have at least one tag');
      return;
    }
    checkTags(v, p, match, { requireService: rules.requireService, allowWildcard: true, requireNonEmpty: true });
    if (rules.onlyService && isRecord(match)) {
      for (const key of Object.keys(match)) {
        if (key !== SERVICE_TAG) v.add(keyPath(p, key), `only tag "${SERVICE_TAG}" may be used in this selector`);
      }
    }
  });
}

// Standard or URL-safe alphabet, padding optional, as protobuf's JSON mapping accepts for bytes.
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Explains why a string is not valid base64, or returns undefined. */
export function checkBase64(value: string): string | undefined {
  const body = value.replace(/=+$/, '');
  const ok = BASE64.test(value) && body.length % 4 !== 1 && (value.length === body.length || value.length % 4 === 0);
  return ok ? undefined : `must be base64-encoded bytes, got ${show(value)}`;
}
