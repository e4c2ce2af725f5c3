/**
 * The readiness and metrics endpoint: `GET /ready` answers 200 READY once the engine
 * has its config, 503 NOT READY before, and 503 TERMINATING from the moment kuma-dp
 * starts shutting down (so load balancers stop sending before the drain).
 * `GET /metrics` is Prometheus text: the agent's registry, then the engine's stats.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Component } from '../../lib/component';
import { KumaError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { AgentMetric, type MetricsRegistry } from './metrics';

/** What the server reports on. */
export interface ReadinessSource {
  isReady(): boolean;
  /** Engine stats (Prometheus text); may be empty. */
  engineMetrics(): Promise<string>;
}

/** Options of the readiness server. */
export interface ReadinessServerOptions {
  address: string;
  /** 0 picks a free port. */
  port: number;
  source: ReadinessSource;
  metrics: MetricsRegistry;
  log: Logger;
}

/** HTTP server for /ready and /metrics. */
export class ReadinessServer implements Component {
  readonly name = 'readiness';
  private server?: http.Server;
  private terminating = false;

  constructor(private readonly o: ReadinessServerOptions) {}

  /** The bound port (after start). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** From now on /ready answers 503 TERMINATING. */
  setTerminating(): void {
    this.terminating = true;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new KumaError('ERR_PORT_IN_USE', `--readiness-port: ${this.o.address}:${this.o.port} is in use; pick another port, or 0 for a free one`, { cause: err })
            : err,
        ),
      );
      server.listen(this.o.port, this.o.address, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    this.o.log.info({ address: this.o.address, port: this.port }, 'readiness listening');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      } else if (path === '/ready') {
        const [status, body] = this.terminating ? [503, 'TERMINATING'] : this.o.source.isReady() ? [200, 'READY'] : [503, 'NOT READY'];
        res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body + '\n');
      } else if (path === '/metrics') {
        const m = this.o.metrics;
        m.set(AgentMetric.ready, this.o.source.isReady() && !this.terminating ? 1 : 0);
        m.set(AgentMetric.processRss, process.memoryUsage().rss);
        const cpu = process.cpuUsage();
        m.set(AgentMetric.processCpu, (cpu.user + cpu.system) / 1e6);
        let engine = '';
        try {
          engine = await this.o.source.engineMetrics();
        } catch (err) {
          this.o.log.debug({ err: (err as Error).message }, 'engine metrics unavailable');
        }
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(m.render() + engine);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /ready or /metrics\n');
      }
    } catch (err) {
      this.o.log.warn({ err }, 'readiness request failed');
      if (!res.headersSent) res.writeHead(500).end();
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeIdleConnections();
    });
  }

  destroy(): void {
    this.server?.closeAllConnections();
    this.server?.close();
  }
}
