/**
 * TrafficRoute rules (Kuma's traffic route validator): sources and destinations select
 * services (destinations only by `kuma.io/service`), and `conf` sends traffic either to
 * one destination or to a weighted split, optionally per HTTP match.
 */
import type { ViolationCollector } from '../../lib/errors';
import { checkSelectors, checkTags, fieldPath, indexPath, isRecord, isSet, listOf, own, show } from './common';

const MATCHERS = ['prefix', 'exact', 'regex'] as const;

/** Appends every violation of a TrafficRoute spec. */
export function validateTrafficRouteSpec(v: ViolationCollector, spec: Record<string, unknown>): void {
  checkSelectors(v, 'sources', own(spec, 'sources'), { requireService: true });
  checkSelectors(v, 'destinations', own(spec, 'destinations'), { requireService: true, onlyService: true });
  const conf = own(spec, 'conf');
  if (!isSet(conf)) {
    v.add('conf', 'is required; must have either split or destination');
    return;
  }
  if (!isRecord(conf)) return; // reported by the structure check
  checkTarget(v, 'conf', conf);
  listOf(own(conf, 'http')).forEach((h, i) => {
    const p = indexPath('conf.http', i);
    if (!isRecord(h)) return;
    checkHttpMatch(v, fieldPath(p, 'match'), own(h, 'match'));
    checkTarget(v, p, h);
  });
}

// Exactly one of `split` (weighted) or `destination` (single) says where traffic goes.
function checkTarget(v: ViolationCollector, path: string, obj: Record<string, unknown>): void {
  const split = own(obj, 'split');
  const dest = own(obj, 'destination');
  const hasSplit = Array.isArray(split) && split.length > 0;
  const hasDest = isSet(dest);
  if (hasSplit && hasDest) v.add(path, 'must have either split or destination, not both');
  else if (!hasSplit && !hasDest) v.add(path, 'must have either split or destination');
  // `*` is allowed: Kuma's default route (route-all-default) sends to `kuma.io/service: '*'`.
  if (hasDest) checkTags(v, fieldPath(path, 'destination'), dest, { requireService: true, allowWildcard: true });
  if (!hasSplit) return;
  let positive = false;
  listOf(split).forEach((s, i) => {
    const p = indexPath(fieldPath(path, 'split'), i);
    if (!isRecord(s)) return;
    const weight = own(s, 'weight');
    if (!isSet(weight)) v.add(fieldPath(p, 'weight'), 'is required; must be an integer >= 0');
    else if (typeof weight === 'number' && Number.isInteger(weight) && weight > 0) positive = true;
    checkTags(v, fieldPath(p, 'destination'), own(s, 'destination'), { requireService: true, allowWildcard: true });
  });
  if (!positive) v.add(fieldPath(path, 'split'), 'must have at least one entry with weight greater than 0');
}

function checkHttpMatch(v: ViolationCollector, path: string, match: unknown): void {
  if (!isSet(match)) {
    v.add(path, 'is required; must have path, method or headers');
    return;
  }
  if (!isRecord(match)) return;
  const path_ = own(match, 'path');
  const method = own(match, 'method');
  const headers = own(match, 'headers');
  if (!isSet(path_) && !isSet(method) && !(isRecord(headers) && Object.keys(headers).length > 0)) {
    v.add(path, 'must have at least one of path, method, headers');
  }
  checkStringMatcher(v, fieldPath(path, 'path'), path_, true);
  checkStringMatcher(v, fieldPath(path, 'method'), method, false);
  if (isRecord(headers)) {
    for (const [name, m] of Object.entries(headers)) checkStringMatcher(v, `${fieldPath(path, 'headers')}[${JSON.stringify(name)}]`, m, false);
  }
}

function checkStringMatcher(v: ViolationCollector, path: string, m: unknown, isPath: boolean): void {
  if (!isRecord(m)) return; // absent, or reported by the structure check
  const present = MATCHERS.filter((k) => isSet(own(m, k)));
  // More than one is reported by the structure check (it is a protobuf oneof).
  if (present.length === 0) v.add(path, `must have exactly one of ${MATCHERS.join(', ')}`);
  for (const k of present) {
    const value = own(m, k);
    if (typeof value !== 'string') continue;
    const p = fieldPath(path, k);
    if (value === '') v.add(p, 'must not be empty');
    else if (isPath && k !== 'regex' && !value.startsWith('/')) v.add(p, `must start with "/", got ${show(value)}`);
    else if (k === 'regex' && !compiles(value)) v.add(p, `must be a valid regular expression, got ${show(value)}`);
  }
}

function compiles(re: string): boolean {
  try {
    new RegExp(re);
    return true;
  } catch {
    return false;
  }
}
