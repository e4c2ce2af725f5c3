/**
 * The admin endpoint on the bootstrap's admin address, with Envoy's paths: `/ready`,
 * `/stats`, `/stats/prometheus`, `/config_dump`, `/clusters`, `/listeners`. Loopback
 * only by default (the bootstrap says where); read-only.
 */
import http from 'node:http';

/** What the admin pages show. */
export interface AdminSource {
  readyState(): 'LIVE' | 'PRE_INITIALIZING' | 'DRAINING';
  statsText(): string;
  statsPrometheus(): string;
  configDump(): unknown;
  clusters(): unknown;
  listeners(): unknown;
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache' });
  res.end(body);
}

function json(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x && x.type === 'Buffer' && Array.isArray(x.data) ? Buffer.from(x.data).toString('base64') : x), 2) + '\n';
}

/** The admin HTTP server (call listen yourself). */
export function createAdminServer(src: AdminSource): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'read-only admin endpoint\n');
    switch (path) {
      case '/ready': {
        const s = src.readyState();
        return send(res, s === 'LIVE' ? 200 : 503, 'text/plain', `${s}\n`);
      }
      case '/stats':
        return send(res, 200, 'text/plain', src.statsText());
      case '/stats/prometheus':
        return send(res, 200, 'text/plain; version=0.0.4', src.statsPrometheus());
      case '/config_dump':
        return send(res, 200, 'application/json', json(src.configDump()));
      case '/clusters':
        return send(res, 200, 'application/json', json(src.clusters()));
      case '/listeners':
        return send(res, 200, 'application/json', json(src.listeners()));
      default:
        return send(res, 404, 'text/plain', 'paths: /ready /stats /stats/prometheus /config_dump /clusters /listeners\n');
    }
  });
}
