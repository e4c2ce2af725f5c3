/**
 * The REST API server (node:http): Kuma's resource paths, dataplane insights, the
 * transactional apply, and the extra routes other components register. A Component:
 * start binds (port 0 picks a free port, logged as "API server listening"), close
 * drains in-flight requests, destroy drops every connection.
 */
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Component } from '../../lib/component';
import type { Logger } from '../../lib/logger';
import type { ResourceStore } from '../store/store';
import type { ApiHandler, ApiRequest } from './api-request';
import { applyResources } from './apply-handler';
import { readBody, parseBody } from './body';
import { mapError } from './error-response';
import type { ExtraRoute, RouteResponse } from './extension';
import { ApiExtensions } from './extension-registry';
import { insightRoutes } from './insights-handlers';
import { resourceRoutes } from './resource-handlers';
import { route, splitPath, type Route } from './router';
import { NotFoundError } from '../../lib/errors';

/** How to build an API server. */
export interface ApiServerOptions {
  store: ResourceStore;
  log: Logger;
  /** 0 picks a free port. */
  port: number;
  /** Interface to bind, e.g. 0.0.0.0 or 127.0.0.1. */
  address: string;
  /** Extra routes, write guards, dataplane status; a fresh registry when absent. */
  extensions?: ApiExtensions;
  /** What `GET /` reports. */
  info: { version: string; mode: string };
}

/** Bounds slow clients: a whole request must arrive within this time. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Kuma's REST API as a Component. */
export class ApiServer implements Component {
  readonly name = 'api-server';
  readonly extensions: ApiExtensions;
  private readonly server: http.Server;
  private readonly builtins: Route<ApiHandler>[];

  constructor(private readonly opts: ApiServerOptions) {
    this.extensions = opts.extensions ?? new ApiExtensions();
    const store = opts.store;
    this.builtins = [
      {
        method: 'GET',
        pattern: '/',
        handler: async () => ({ status: 200, body: { hostname: os.hostname(), tagline: 'Kuma', version: opts.info.version, mode: opts.info.mode } }),
      },
      { method: 'POST', pattern: '/_apply', handler: (req) => applyResources(store, this.extensions.guards, req) },
      ...insightRoutes(store, () => this.extensions.statusProvider),
      ...resourceRoutes({ store, guards: () => this.extensions.guards }),
    ];
    this.server = http.createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
      this.handle(req, res).catch((err) => {
        // handle() answers every error itself; this is a last resort (e.g. a write after the socket died).
        this.opts.log.error({ err }, 'API request failed outside the handler');
        if (!res.headersSent) res.destroy();
      });
    });
  }

  /** The bound port (after start). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.address, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.opts.log.info({ port: this.port, address: this.opts.address }, 'API server listening');
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await closed;
  }

  destroy(): void {
    this.server.closeAllConnections();
    this.server.close();
  }

  private routes(): Route<ApiHandler>[] {
    const extra = this.extensions.routes.map((r: ExtraRoute): Route<ApiHandler> => ({ method: r.method, pattern: r.path, handler: (req) => r.handler(req) }));
    // Extras first: on equal specificity the first registered wins, so a component can
    // serve a path the generic `/{collection}` routes would otherwise claim.
    return [...extra, ...this.builtins];
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    let reply: RouteResponse;
    let extraHeaders: Record<string, string> = {};
    try {
      const raw = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://api.invalid');
      const parts = splitPath(url.pathname);
      const found = route(this.routes(), method, parts);
      if (!found) throw new NotFoundError(`no route for ${method} ${url.pathname}`);
      const host = req.headers.host ?? `${this.opts.address}:${this.port}`;
      const apiReq: ApiRequest = {
        params: found.params,
        query: url.searchParams,
        headers: req.headers,
        body: method === 'PUT' || method === 'POST' ? parseBody(raw, req.headers['content-type']) : undefined,
        baseUrl: `http://${host}`,
        pathname: url.pathname,
      };
      reply = await found.handler(apiReq);
    } catch (err) {
      const m = mapError(err);
      if (m.internal) this.opts.log.error({ err, method, url: req.url }, 'API request failed');
      else this.opts.log.debug({ method, url: req.url, status: m.status, details: m.body.details }, 'API request refused');
      reply = { status: m.status, body: m.body };
      extraHeaders = m.headers;
    }
    this.send(res, reply, extraHeaders);
  }

  private send(res: http.ServerResponse, reply: RouteResponse, extraHeaders: Record<string, string>): void {
    const headers: Record<string, string> = { ...extraHeaders, ...(reply.headers ?? {}) };
    let payload: string | Buffer = '';
    if (reply.body !== undefined) {
      if (typeof reply.body === 'string' || Buffer.isBuffer(reply.body)) {
        payload = reply.body;
        headers['content-type'] = reply.contentType ?? 'text/plain; charset=utf-8';
      } else {
        payload = JSON.stringify(reply.body, null, 2) + '\n';
        headers['content-type'] = reply.contentType ?? 'application/json';
      }
    }
    headers['content-length'] = String(Buffer.byteLength(payload));
    res.writeHead(reply.status, headers);
    res.end(payload);
  }
}
