/**
 * From a TrafficRoute to Envoy routing: which subset clusters a service's traffic goes
 * to, with what weights, and (for HTTP) which requests take which split.
 * Kuma TrafficRoute v1alpha1: `conf.split`, `conf.destination`, `conf.http[]`.
 */
import type { Resource } from '../../../api/resource';
import { SERVICE_TAG, WILDCARD, type Tags } from '../../../lib/naming/tags';
import { ExtensionTypeUrl } from '../../../proto/index';
import { subsetClusterName, statPrefix } from './names';
import { adsConfigSource } from './tls-contexts';

/** One weighted target of a split. */
export interface WeightedSubset {
  cluster: string;
  service: string;
  tags: Tags;
  weight: number;
}

/** One HTTP rule: a match and its split. */
export interface HttpRule {
  match: Record<string, any>;
  split: WeightedSubset[];
}

/** What a TrafficRoute means for one destination service. */
export interface ResolvedRoute {
  lbPolicy: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM';
  /** The default split (TCP, and HTTP requests no rule matches). */
  split: WeightedSubset[];
  http: HttpRule[];
}

function subsets(entries: { weight?: number; destination?: Tags }[] | undefined, service: string): WeightedSubset[] {
  const out = new Map<string, WeightedSubset>();
  for (const e of entries ?? []) {
    const weight = Number(e.weight ?? 0);
    if (!(weight > 0)) continue; // Envoy rejects zero-weight-only splits; a 0 entry carries no traffic anyway
    const tags: Tags = { ...(e.destination ?? {}) };
    if (!tags[SERVICE_TAG] || tags[SERVICE_TAG] === WILDCARD) tags[SERVICE_TAG] = service;
    const cluster = subsetClusterName(tags[SERVICE_TAG], tags);
    const prev = out.get(cluster);
    if (prev) prev.weight += weight;
    else out.set(cluster, { cluster, service: tags[SERVICE_TAG], tags, weight });
  }
  return [...out.values()].sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
}

function confSplit(conf: Record<string, any>, service: string): WeightedSubset[] {
  if (Array.isArray(conf.split) && conf.split.length > 0) return subsets(conf.split, service);
  if (conf.destination) return subsets([{ weight: 1, destination: conf.destination }], service);
  return [];
}

function stringMatch(m: Record<string, string>): Record<string, any> | undefined {
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  if (m.regex !== undefined) return { safe_regex: { regex: m.regex } };
  return undefined;
}

function routeMatch(match: Record<string, any> | undefined): Record<string, any> {
  const out: Record<string, any> = {};
  const p = match?.path ?? {};
  if (p.exact !== undefined) out.path = p.exact;
  else if (p.regex !== undefined) out.safe_regex = { regex: p.regex };
  else out.prefix = p.prefix ?? '/';
  const headers: Record<string, any>[] = [];
  const method = match?.method ? stringMatch(match.method) : undefined;
  if (method) headers.push({ name: ':method', string_match: method });
  for (const name of Object.keys(match?.headers ?? {}).sort()) {
    const sm = stringMatch(match!.headers[name]);
    if (sm) headers.push({ name, string_match: sm });
  }
  if (headers.length) out.headers = headers;
  return out;
}

/** Resolves the route for `service` (no route: all traffic to the service itself). */
export function resolveRoute(route: Resource | undefined, service: string): ResolvedRoute {
  const conf: Record<string, any> = route?.spec.conf ?? {};
  const lb = conf.loadBalancer ?? {};
  const lbPolicy = lb.leastRequest ? 'LEAST_REQUEST' : lb.random ? 'RANDOM' : 'ROUND_ROBIN';
  let split = confSplit(conf, service);
  if (!route) split = subsets([{ weight: 1, destination: { [SERVICE_TAG]: service } }], service);
  const http: HttpRule[] = [];
  for (const h of conf.http ?? []) {
    const s = confSplit(h, service);
    if (s.length) http.push({ match: routeMatch(h.match), split: s });
  }
  return { lbPolicy, split, http };
}

/** Every subset a route sends to (default split and HTTP rules), deduplicated and sorted. */
export function routeSubsets(r: ResolvedRoute): WeightedSubset[] {
  const m = new Map<string, WeightedSubset>();
  for (const s of [...r.split, ...r.http.flatMap((h) => h.split)]) if (!m.has(s.cluster)) m.set(s.cluster, s);
  return [...m.values()].sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
}

function routeAction(split: WeightedSubset[]): Record<string, any> {
  if (split.length === 1) return { cluster: split[0].cluster };
  return { weighted_clusters: { clusters: split.map((s) => ({ name: s.cluster, weight: s.weight })) } };
}

/** RouteConfiguration (proto3 JSON) of an HTTP destination: HTTP rules first, then the default split. */
export function buildRouteConfiguration(name: string, service: string, r: ResolvedRoute): Record<string, any> {
  const routes: Record<string, any>[] = r.http.map((h) => ({ match: h.match, route: routeAction(h.split) }));
  if (r.split.length) routes.push({ match: { prefix: '/' }, route: routeAction(r.split) });
  return {
    name,
    validate_clusters: false,
    virtual_hosts: [{ name: service, domains: ['*'], routes }],
  };
}

/** The HTTP router filter, always last in the chain. */
export function routerFilter(): Record<string, any> {
  return { name: 'envoy.filters.http.router', typed_config: { '@type': ExtensionTypeUrl.Router } };
}

/** An http_connection_manager network filter that takes its routes from RDS over ADS. */
export function hcmWithRds(stat: string, routeName: string): Record<string, any> {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': ExtensionTypeUrl.HttpConnectionManager,
      stat_prefix: statPrefix(stat),
      codec_type: 'AUTO',
      rds: { config_source: adsConfigSource(), route_config_name: routeName },
      http_filters: [routerFilter()],
    },
  };
}

/** A tcp_proxy network filter to one cluster or a weighted set. */
export function tcpProxy(stat: string, split: WeightedSubset[]): Record<string, any> {
  const typed: Record<string, any> = { '@type': ExtensionTypeUrl.TcpProxy, stat_prefix: statPrefix(stat) };
  if (split.length === 1) typed.cluster = split[0].cluster;
  else typed.weighted_clusters = { clusters: split.map((s) => ({ name: s.cluster, weight: s.weight })) };
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: typed };
}
