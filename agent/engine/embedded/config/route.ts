/**
 * RouteConfiguration (RDS or inline in the HTTP connection manager) -> RouteConfigModel.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto
 */
import { Checker, durationMs, join, wrapped } from './checker';
import type { ClusterChoice, HeaderMatch, RouteConfigModel, RouteModel } from './model';
import { translateStringMatch } from './tls';

/** `cluster` or `weighted_clusters` (route action and tcp_proxy share the shape). */
export function translateClusterChoice(c: Checker, obj: any, path: string): ClusterChoice | undefined {
  if (typeof obj?.cluster === 'string' && obj.cluster) return { kind: 'single', cluster: obj.cluster };
  const wc = obj?.weighted_clusters;
  if (wc) {
    const wp = join(path, 'weighted_clusters');
    c.only(wc, wp, ['clusters', 'total_weight']);
    const clusters: { name: string; weight: number }[] = [];
    (wc.clusters ?? []).forEach((x: any, i: number) => {
      const xp = `${wp}.clusters[${i}]`;
      c.only(x, xp, ['name', 'weight']);
      const weight = wrapped(x.weight) ?? 0;
      if (!x.name) c.add(join(xp, 'name'), 'cluster name not set');
      else if (weight > 0) clusters.push({ name: x.name, weight });
    });
    const total = clusters.reduce((s, x) => s + x.weight, 0);
    if (total <= 0) {
      c.add(wp, 'weighted_clusters needs at least one cluster with a positive weight');
      return undefined;
    }
    return { kind: 'weighted', clusters, total };
  }
  c.add(path, 'needs cluster or weighted_clusters');
  return undefined;
}

function translateHeader(c: Checker, h: any, path: string): HeaderMatch | undefined {
  c.only(h, path, ['name', 'string_match', 'present_match', 'invert_match']);
  if (!h?.name) {
    c.add(join(path, 'name'), 'header name not set');
    return undefined;
  }
  const out: HeaderMatch = { name: String(h.name).toLowerCase(), invert: h.invert_match === true };
  if (h.string_match) out.match = translateStringMatch(c, h.string_match, join(path, 'string_match'));
  else if (h.present_match !== undefined) out.present = h.present_match === true;
  else out.present = true;
  return out;
}

function translateRoute(c: Checker, r: any, path: string): RouteModel | undefined {
  c.only(r, path, ['name', 'match', 'route']);
  const m = r?.match;
  const mp = join(path, 'match');
  if (!m) {
    c.add(mp, 'not set');
    return undefined;
  }
  c.only(m, mp, ['prefix', 'path', 'headers', 'case_sensitive']);
  if (m.prefix === undefined && m.path === undefined) c.add(mp, 'needs prefix or path (regex and others are not supported)');
  const headers: HeaderMatch[] = [];
  (m.headers ?? []).forEach((h: any, i: number) => {
    const x = translateHeader(c, h, `${mp}.headers[${i}]`);
    if (x) headers.push(x);
  });
  const a = r.route;
  const ap = join(path, 'route');
  if (!a) {
    c.add(ap, 'only route actions are supported (no redirect or direct_response)');
    return undefined;
  }
  c.only(a, ap, ['cluster', 'weighted_clusters', 'timeout']);
  const target = translateClusterChoice(c, a, ap);
  if (!target) return undefined;
  // BoolValue: absent means true; `{}` is an explicit false (default value not encoded).
  const caseSensitive = m.case_sensitive === undefined ? true : m.case_sensitive.value === true;
  return { path: m.path, prefix: m.prefix, caseSensitive, headers, target, timeoutMs: durationMs(a.timeout) };
}

/** Translates a RouteConfiguration; problems go to `c`. */
export function translateRouteConfig(c: Checker, rc: any, path: string): RouteConfigModel {
  c.only(rc, path, ['name', 'virtual_hosts', 'validate_clusters']);
  const out: RouteConfigModel = { name: rc?.name ?? '', virtualHosts: [] };
  (rc?.virtual_hosts ?? []).forEach((vh: any, i: number) => {
    const vp = join(path, `virtual_hosts[${i}]`);
    c.only(vh, vp, ['name', 'domains', 'routes']);
    const routes: RouteModel[] = [];
    (vh.routes ?? []).forEach((r: any, j: number) => {
      const x = translateRoute(c, r, `${vp}.routes[${j}]`);
      if (x) routes.push(x);
    });
    const domains: string[] = (vh.domains ?? []).map((d: string) => d.toLowerCase());
    if (domains.length === 0) c.add(join(vp, 'domains'), 'at least one domain is required');
    out.virtualHosts.push({ name: vh.name ?? '', domains, routes });
  });
  return out;
}
