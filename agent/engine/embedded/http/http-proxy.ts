/**
 * The http_connection_manager with the router filter, on HTTP/1.1: Node's parser on
 * the downstream socket, a route chosen from the RouteConfiguration (RDS or inline),
 * a weighted cluster chosen per request, and the request forwarded over the cluster's
 * keep-alive agent. Errors answer like Envoy does: 404 when no route matches, 503
 * when no upstream connection can be made, 504 on the route timeout.
 */
import http from 'node:http';
import type { Logger } from '../../../../lib/logger';
import type { HttpModel, RouteConfigModel } from '../config/model';
import type { ListenerStats } from '../admin/stats';
import type { ClusterManager, ClusterRuntime } from '../clusters/cluster-manager';
import { chooseCluster, matchRoute } from './route-match';
import { h1ToH2 } from './http2-proxy';

/** Envoy's default route timeout when the route sets none (route_components.proto: 15s). */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

// RFC 9110 §7.6.1: connection-specific fields are not forwarded.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authenticate', 'proxy-authorization']);

/**
 * The end-to-end fields of a message as a flat [name, value, ...] list, in the order and
 * spelling they arrived: a field sent several times stays several fields (no ", " join),
 * and Node writes the list as it is instead of building and validating a header object
 * per hop. `connection` names further hop-by-hop fields of this message (RFC 9110 §7.6.1).
 */
export function forwardRawHeaders(raw: string[], connection: string | string[] | undefined): string[] {
  const extra = typeof connection === 'string' ? connection.toLowerCase().split(',').map((s) => s.trim()) : [];
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(k) || (extra.length && extra.includes(k))) continue;
    out.push(raw[i], raw[i + 1]);
  }
  return out;
}

/** True when a request carries a body to forward (RFC 9112 §6.3: a request without Content-Length or Transfer-Encoding has none). */
export function requestHasBody(h: http.IncomingHttpHeaders): boolean {
  const cl = h['content-length'];
  return h['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

function reply(res: http.ServerResponse, status: number, body: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** What the HTTP proxy of one filter chain needs. */
export interface HttpProxyDeps {
  model: HttpModel;
  /** The applied RouteConfiguration of this chain (looked up per request: RDS may change). */
  routes: () => RouteConfigModel | undefined;
  clusters: ClusterManager;
  stats: ListenerStats;
  log: Logger;
  /** True while the chain drains: responses then close their connection. */
  draining?: () => boolean;
}

/**
 * How long a downstream HTTP connection may stay without a request when the
 * http_connection_manager does not say (common_http_protocol_options.idle_timeout):
 * Envoy's default, 1 h. The CP's mesh clusters keep their pooled connections to this
 * sidecar as long, so a shorter limit here would make callers re-handshake mTLS after
 * every lull.
 */
export const DOWNSTREAM_IDLE_TIMEOUT_MS = 3_600_000;

/** The downstream idle limit of a chain in ms; 0: no limit. */
export function downstreamIdleMs(model: HttpModel): number {
  return model.idleTimeoutMs ?? DOWNSTREAM_IDLE_TIMEOUT_MS;
}

/** An http.Server (never listening) that proxies the connections emitted into it. */
export function createHttpProxyServer(d: HttpProxyDeps): http.Server {
  const server = http.createServer({ keepAlive: true }, (req, res) => handle(d, req, res));
  // 0 turns node:http's keep-alive timeout off: no limit, as idle_timeout 0 means.
  server.keepAliveTimeout = downstreamIdleMs(d.model);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

/** Where one request goes: its cluster and route timeout, or the local answer when it goes nowhere. */
export type UpstreamChoice = { cluster: ClusterRuntime; timeoutMs: number } | { status: number; body: string };

/**
 * The routing step both proxies share: counts the request, matches the route, picks
 * the weighted cluster; 404 without a route, 503 for a cluster not configured (Envoy's answers).
 */
export function selectUpstream(d: HttpProxyDeps, method: string, url: string, host: string, headers: http.IncomingHttpHeaders): UpstreamChoice {
  d.stats.downstream_rq_total++;
  const rc = d.routes();
  const q = url.indexOf('?');
  const route = rc && matchRoute(rc, { method, path: q < 0 ? url : url.slice(0, q), host, headers });
  if (!route) {
    d.stats.route_not_found++;
    return { status: 404, body: 'no route matched\n' };
  }
  const clusterName = chooseCluster(route.target, Math.random());
  const cluster = d.clusters.get(clusterName);
  if (!cluster) return { status: 503, body: `no healthy upstream: cluster "${clusterName}" not configured\n` };
  return { cluster, timeoutMs: route.timeoutMs ?? DEFAULT_ROUTE_TIMEOUT_MS };
}

function handle(d: HttpProxyDeps, req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '/';
  const choice = selectUpstream(d, req.method ?? 'GET', url, req.headers.host ?? '', req.headers);
  if ('status' in choice) return reply(res, choice.status, choice.body);
  const { cluster, timeoutMs } = choice;
  const clusterName = cluster.model.name;
  if (cluster.model.http2) {
    cluster.stats.upstream_rq_total++;
    return h1ToH2(d, req, res, cluster, timeoutMs, (status, body) => reply(res, status, body));
  }
  const withBody = requestHasBody(req.headers);
  let timer: NodeJS.Timeout | undefined;
  /** Set once the downstream got (or started to get) its answer: nothing else may answer. */
  let answered = false;
  /** Set when the downstream went away first: nothing is sent upstream any more. */
  let gone = false;
  let up: http.ClientRequest | undefined;
  const answer = (status: number, body: string) => {
    if (answered || gone) return;
    answered = true;
    clearTimeout(timer);
    reply(res, status, body);
  };
  const forward = (attempt: number): void => {
    const agent = cluster.requestAgent();
    if (!agent) return answer(503, `no healthy upstream: cluster "${clusterName}" has no endpoint\n`);
    cluster.stats.upstream_rq_total++;
    const u = http.request({ agent, host: clusterName, method: req.method, path: url, headers: forwardRawHeaders(req.rawHeaders, req.headers.connection), setHost: false });
    up = u;
    let responded = false;
    u.on('response', (ur) => {
      responded = true;
      cluster.observe(agent, ur.statusCode ?? 502);
      if (answered || gone) return void ur.destroy();
      answered = true;
      const headers = forwardRawHeaders(ur.rawHeaders, ur.headers.connection);
      if (d.draining?.()) headers.push('connection', 'close');
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, headers);
      // A hand-made relay instead of pipe(): three listeners per response instead of
      // pipe's seven, with the same backpressure (pause on a full downstream buffer).
      // The chunk that completes a Content-Length body goes out with end(): head, body and
      // end leave in one write (one TLS record on the mesh hop) instead of a write and an
      // empty end write. Without a length nothing is held back (streams stay live).
      const length = ur.headers['content-length'] === undefined ? -1 : Number(ur.headers['content-length']);
      let received = 0;
      ur.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received === length) {
          clearTimeout(timer);
          return void res.end(chunk);
        }
        if (!res.write(chunk)) ur.pause();
      });
      res.on('drain', () => ur.resume());
      ur.on('end', () => {
        clearTimeout(timer);
        if (!res.writableEnded) res.end();
      });
      ur.on('error', () => res.destroy());
    });
    u.on('error', (err) => {
      // Mid-body: the downstream response cannot be completed.
      if (responded) return void res.destroy();
      if (answered || gone) return;
      // A pooled connection the app closed just as we reused it resets before any response
      // byte; the app did not answer it, so a request without a body is sent once more on
      // another connection (Node's documented reusedSocket retry; Envoy retries such resets).
      if (attempt === 0 && u.reusedSocket && retriable(req, err)) {
        cluster.stats.upstream_rq_retry++;
        d.log.debug({ cluster: clusterName, err: err.message }, 'pooled upstream connection reset before headers; retrying once');
        return forward(attempt + 1);
      }
      d.log.debug({ cluster: clusterName, err: err.message }, 'http upstream failed');
      cluster.observe(agent, 503);
      answer(503, `upstream connect error or disconnect/reset before headers: ${err.message}\n`);
    });
    // Node reports a close before the response as 'socket hang up'; should it ever not,
    // the downstream still gets its 503 instead of waiting for the route timeout.
    u.on('close', () => {
      if (!responded && up === u) answer(503, 'upstream connect error or disconnect/reset before headers: connection closed\n');
    });
    // A request without a body is finished at once: no pipe to set up and tear down, and
    // the head goes out in one write.
    if (attempt === 0 && withBody) req.pipe(u);
    else u.end();
  };
  if (timeoutMs > 0) {
    timer = setTimeout(() => {
      up?.destroy();
      if (answered) res.destroy();
      else answer(504, 'upstream request timeout\n');
    }, timeoutMs);
  }
  res.on('close', () => {
    clearTimeout(timer);
    if (!res.writableFinished) {
      gone = true;
      up?.destroy();
    }
  });
  forward(0);
}

/** Methods whose request, when it carries no body, may be sent again (RFC 9110 §9.2.2 idempotent, minus those usually with a body). */
const RETRIABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'TRACE']);

/** True when a reset request can be sent again: idempotent, without a body, failed by a connection reset. */
function retriable(req: http.IncomingMessage, err: NodeJS.ErrnoException): boolean {
  if (!RETRIABLE_METHODS.has(req.method ?? '')) return false;
  if (req.headers['transfer-encoding'] || (req.headers['content-length'] && req.headers['content-length'] !== '0')) return false;
  return err.code === 'ECONNRESET' || err.code === 'EPIPE';
}
