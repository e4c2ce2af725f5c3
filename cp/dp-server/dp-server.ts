/**
 * The DP server: one TLS port (KUMA_DP_SERVER_PORT, 5678) that serves kuma-dp's HTTP/1.1
 * requests (POST /bootstrap, GET /dns/vips) and the proxies' gRPC ADS streams side by
 * side, told apart by ALPN after the handshake (h2 -> gRPC, anything else -> HTTP/1.1),
 * as Kuma serves both on one port. Optionally a plaintext gRPC port
 * (KUMA_DP_SERVER_PLAINTEXT_PORT) for proxyless gRPC clients, which hold no CA.
 */
import http from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import type { Component } from '../../lib/component';
import type { Logger } from '../../lib/logger';
import type { XdsServer } from '../xds/server/xds-server';
import { GrpcH2Server } from '../xds/server/grpc-h2';
import { handleBootstrap, type BootstrapHandlerOptions, type HandlerResponse } from './bootstrap-handler';
import { handleDnsVips, type VipsHandlerOptions } from './vips-handler';
import type { DpServerTls } from './tls-material';

/** Largest request body accepted (a Dataplane YAML is a few KiB). */
const MAX_BODY = 1024 * 1024;

/** Options of the DP server. */
export interface DpServerOptions {
  /** TLS port; 0 picks a free one. */
  port: number;
  /** Plaintext gRPC (ADS only) port; undefined = off. */
  plaintextPort?: number;
  /** Interface to bind; default 0.0.0.0. */
  host?: string;
  tls: DpServerTls;
  xds: XdsServer;
  log: Logger;
  handlers: Omit<BootstrapHandlerOptions, 'port' | 'caPem' | 'log'> & Omit<VipsHandlerOptions, 'log'>;
}

/**
 * gRPC clients (Envoy, grpc-js) offer only `h2`; HTTP clients offer `http/1.1` (curl
 * offers both). Preferring http/1.1 whenever it is offered sends every HTTP client to
 * the HTTP/1.1 handler and only gRPC to the gRPC server. No ALPN at all -> HTTP/1.1.
 */
export function selectAlpn({ protocols }: { protocols: string[] }): string | undefined {
  if (protocols.includes('http/1.1')) return 'http/1.1';
  if (protocols.includes('h2')) return 'h2';
  return undefined;
}

/** Bootstrap + ADS over one TLS port, ADS over an optional plaintext port. */
export class DpServer implements Component {
  readonly name = 'dp-server';
  private grpcServer?: GrpcH2Server;
  private tlsServer?: tls.Server;
  private readonly httpServer: http.Server;
  private boundPort = 0;
  private boundPlaintext = 0;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly o: DpServerOptions) {
    this.httpServer = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => void this.onHttp(req, res));
  }

  /** The bound TLS port. */
  get port(): number {
    return this.boundPort;
  }

  /** The bound plaintext gRPC port (0 when off). */
  get plaintextPort(): number {
    return this.boundPlaintext;
  }

  async start(): Promise<void> {
    const host = this.o.host ?? '0.0.0.0';
    const grpcServer = new GrpcH2Server({ methods: this.o.xds.ads.methods(), log: this.o.log, keepaliveTimeMs: 60_000, maxReceiveMessageBytes: 16 * 1024 * 1024 });
    this.grpcServer = grpcServer;
    this.tlsServer = tls.createServer({ cert: this.o.tls.certPem, key: this.o.tls.keyPem, ALPNCallback: selectAlpn }, (sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      if (sock.alpnProtocol === 'h2') grpcServer.injectConnection(sock);
      else this.httpServer.emit('connection', sock);
    });
    this.tlsServer.on('tlsClientError', (err) => this.o.log.debug({ err: err.message }, 'TLS handshake failed'));
    await new Promise<void>((resolve, reject) => {
      this.tlsServer!.once('error', reject);
      this.tlsServer!.listen(this.o.port, host, () => {
        this.tlsServer!.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.tlsServer.address() as net.AddressInfo).port;
    if (this.o.plaintextPort !== undefined) {
      this.boundPlaintext = await grpcServer.listen(host, this.o.plaintextPort);
    }
    this.o.log.info({ port: this.boundPort, plaintextPort: this.boundPlaintext || undefined, caFile: this.o.tls.caFile, certFile: this.o.tls.certFile }, 'DP server listening');
  }

  private send(res: http.ServerResponse, r: HandlerResponse): void {
    const body = JSON.stringify(r.body);
    res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private async readJson(req: http.IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; r: HandlerResponse }> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) return { ok: false, r: { status: 413, body: { title: 'Payload Too Large', details: `request bodies are limited to ${MAX_BODY} bytes` } } };
      chunks.push(c as Buffer);
    }
    try {
      return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
    } catch (err) {
      return { ok: false, r: { status: 400, body: { title: 'Bad Request', details: `the body is not valid JSON: ${(err as Error).message}` } } };
    }
  }

  private async onHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://dp-server');
      if (url.pathname === '/bootstrap' && req.method === 'POST') {
        const body = await this.readJson(req);
        if (!body.ok) return this.send(res, body.r);
        const r = await handleBootstrap({ ...this.o.handlers, caPem: this.o.tls.caPem, port: () => this.boundPort, log: this.o.log }, body.value, req.headers.host);
        return this.send(res, r);
      }
      if (url.pathname === '/dns/vips' && req.method === 'GET') {
        return this.send(res, await handleDnsVips({ ...this.o.handlers, log: this.o.log }, url.searchParams, req.headers.authorization));
      }
      this.send(res, { status: 404, body: { title: 'Not Found', details: `${req.method} ${url.pathname} is not served here; the DP server serves POST /bootstrap, GET /dns/vips and gRPC ADS` } });
    } catch (err) {
      this.o.log.error({ err }, 'DP server request failed');
      if (!res.headersSent) this.send(res, { status: 500, body: { title: 'Internal Server Error', details: 'see the CP log' } });
      else res.destroy();
    }
  }

  async close(): Promise<void> {
    this.tlsServer?.close();
    this.httpServer.close();
    await this.grpcServer?.close(2000);
    for (const s of this.sockets) s.destroy();
  }

  destroy(): void {
    this.tlsServer?.close();
    this.httpServer.close();
    this.grpcServer?.destroy();
    for (const s of this.sockets) s.destroy();
  }
}
