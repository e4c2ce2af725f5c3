/**
 * Picks the route for a request: virtual host by Host (exact, `*.suffix`, `prefix.*`,
 * then `*`, the order Envoy documents for VirtualHost.domains), then the first route
 * whose path and headers match. Pure.
 */
import type { ClusterChoice, HeaderMatch, RouteConfigModel, RouteModel } from '../config/model';
import { stringMatches } from '../config/tls';
import { rawFieldValue } from './h1-head';

/** What a route match looks at. */
export interface RequestView {
  method: string;
  /** Path without the query string. */
  path: string;
  host: string;
  headers: Record<string, string | string[] | undefined>;
  /** The raw field list ([name, value, ...]); when set, header matchers read it instead of `headers`. */
  rawHeaders?: string[];
}

function domainScore(domain: string, host: string): number {
  if (domain === host) return 4;
  if (domain.startsWith('*') && domain.length > 1 && host.endsWith(domain.slice(1))) return 3;
  if (domain.endsWith('*') && domain.length > 1 && host.startsWith(domain.slice(0, -1))) return 2;
  if (domain === '*') return 1;
  return 0;
}

function headerValue(req: RequestView, name: string): string | undefined {
  if (name === ':method') return req.method;
  if (name === ':path') return req.path;
  if (name === ':authority') return req.host;
  if (req.rawHeaders) return rawFieldValue(req.rawHeaders, name);
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function headerMatches(h: HeaderMatch, req: RequestView): boolean {
  const v = headerValue(req, h.name);
  let ok: boolean;
  if (h.match) ok = v !== undefined && stringMatches(h.match, v);
  else ok = (v !== undefined) === (h.present ?? true);
  return h.invert ? !ok : ok;
}

function routeMatches(r: RouteModel, req: RequestView): boolean {
  const p = r.caseSensitive ? req.path : req.path.toLowerCase();
  if (r.path !== undefined && p !== (r.caseSensitive ? r.path : r.path.toLowerCase())) return false;
  if (r.prefix !== undefined && !p.startsWith(r.caseSensitive ? r.prefix : r.prefix.toLowerCase())) return false;
  for (const h of r.headers) if (!headerMatches(h, req)) return false;
  return true;
}

type VirtualHost = RouteConfigModel['virtualHosts'][number];

/** Host values seen per route table and the virtual host each picks (null: none); a route table is never changed once built. */
const vhostMemo = new WeakMap<RouteConfigModel, Map<string, VirtualHost | null>>();
/** Distinct Host values remembered per route table (a caller sending random ones only refills it). */
const VHOST_MEMO_MAX = 256;

function pickVirtualHost(rc: RouteConfigModel, rawHost: string): VirtualHost | undefined {
  let memo = vhostMemo.get(rc);
  if (!memo) vhostMemo.set(rc, (memo = new Map()));
  const known = memo.get(rawHost);
  if (known !== undefined) return known ?? undefined;
  const host = rawHost.toLowerCase().replace(/:\d+$/, '');
  let best: VirtualHost | undefined;
  let bestScore = 0;
  for (const vh of rc.virtualHosts) {
    for (const d of vh.domains) {
      const s = domainScore(d, host);
      if (s > bestScore) {
        bestScore = s;
        best = vh;
      }
    }
  }
  if (memo.size >= VHOST_MEMO_MAX) memo.clear();
  memo.set(rawHost, best ?? null);
  return best;
}

/** The matching route, or undefined (the proxy answers 404). */
export function matchRoute(rc: RouteConfigModel, req: RequestView): RouteModel | undefined {
  const best = pickVirtualHost(rc, req.host);
  if (!best) return undefined;
  for (const r of best.routes) if (routeMatches(r, req)) return r;
  return undefined;
}

/** Chooses a cluster name; `rnd` in [0,1) (weighted clusters are chosen at random per request, like Envoy). */
export function chooseCluster(choice: ClusterChoice, rnd: number): string {
  if (choice.kind === 'single') return choice.cluster;
  let x = Math.floor(rnd * choice.total);
  for (const c of choice.clusters) {
    if (x < c.weight) return c.name;
    x -= c.weight;
  }
  return choice.clusters[choice.clusters.length - 1].name;
}
