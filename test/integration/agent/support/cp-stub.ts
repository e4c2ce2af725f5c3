/**
 * A scripted stand-in for the CP's DP server (real HTTPS on 127.0.0.1:0) for kuma-dp
 * tests that must control the answers (404 twice, then 200; 403; CP down). The real
 * kuma-cp is exercised in kuma-cp.test.ts.
 */
import https from 'node:https';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestCert } from './tls';

/** One scripted answer of POST /bootstrap. */
export interface StubAnswer {
  status: number;
  body: unknown;
}

/** The stub's state, for assertions. */
export class CpStub {
  readonly bootstrapRequests: any[] = [];
  readonly vipsRequests: { url: string; authorization?: string }[] = [];
  /** Answers handed out in order; the last one repeats. A function answers from the request. */
  answers: (StubAnswer | ((req: any) => StubAnswer))[] = [];
  vips: { status: number; body: unknown } = { status: 200, body: { mesh: 'default', ttl: 30, vips: {} } };
  private server?: http.Server;

  constructor(private readonly cert?: TestCert) {}

  get url(): string {
    const port = (this.server!.address() as AddressInfo).port;
    return `${this.cert ? 'https' : 'http'}://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/bootstrap') {
          this.bootstrapRequests.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          const pick = this.answers[Math.min(this.bootstrapRequests.length - 1, this.answers.length - 1)];
          const a = typeof pick === 'function' ? pick(this.bootstrapRequests[this.bootstrapRequests.length - 1]) : pick;
          res.writeHead(a.status, { 'content-type': 'application/json' }).end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
        } else if (req.method === 'GET' && req.url?.startsWith('/dns/vips')) {
          this.vipsRequests.push({ url: req.url, authorization: req.headers.authorization });
          res.writeHead(this.vips.status, { 'content-type': 'application/json' }).end(JSON.stringify(this.vips.body));
        } else {
          res.writeHead(404).end();
        }
      });
    };
    this.server = this.cert ? https.createServer({ cert: this.cert.cert, key: this.cert.key }, handler) : http.createServer(handler);
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

/** A bootstrap whose admin listener is on `adminPort` (what the fake Envoy serves /ready on). */
export function bootstrapFor(adminPort: number): Record<string, unknown> {
  return {
    node: { id: 'default.dp-1', cluster: 'backend' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    dynamic_resources: { ads_config: { api_type: 'GRPC', transport_api_version: 'V3' } },
  };
}
