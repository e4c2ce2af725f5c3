/**
 * The harness's hand inside one network namespace. Started as
 * `ip netns exec <ns> node netns-agent.js <socket path>`, it listens on a Unix socket in the
 * work dir (a path in the file system, so the harness in the root namespace can reach it,
 * while every connection the agent opens starts inside <ns>). One JSON line per request:
 *
 *   {"op":"pipe","host":h,"port":p}        answers {"ok":true}, then relays raw bytes to h:p
 *                                           (the harness's port forwards to CP APIs and admins)
 *   {"op":"http","url":u,"options":{...}}  one HTTP exchange from <ns>: {"ok":true,"result":{...}}
 *   {"op":"resolve","server":"ip:port","name":n}  A records through that DNS server
 *   {"op":"connect","host":h,"port":p,"timeoutMs":t}  can a TCP connection be opened? (isolation probe)
 *
 * Failures answer {"ok":false,"error":"...","code":"E..."}. Prints
 * `{"msg":"netns agent listening","path":...}` once it accepts connections.
 */
import fs from 'node:fs';
import net from 'node:net';
import { Resolver } from 'node:dns/promises';
import { httpRequest, type HttpOptions } from './http-client';

/** Longest request line accepted (a request is a few hundred bytes). */
const MAX_LINE = 64 * 1024;

type Request =
  | { op: 'pipe'; host: string; port: number }
  | { op: 'http'; url: string; options?: HttpOptions }
  | { op: 'resolve'; server: string; name: string }
  | { op: 'connect'; host: string; port: number; timeoutMs?: number };

function answer(sock: net.Socket, body: Record<string, unknown>): void {
  sock.end(JSON.stringify(body) + '\n');
}

function failure(err: unknown): Record<string, unknown> {
  return { ok: false, error: (err as Error).message, code: (err as NodeJS.ErrnoException).code };
}

async function handle(sock: net.Socket, req: Request, rest: Buffer): Promise<void> {
  // Only a pipe reads past the request line (pipe() resumes the socket); the rest discard it.
  if (req.op !== 'pipe') sock.resume();
  switch (req.op) {
    case 'pipe': {
      const up = net.connect(req.port, req.host);
      let connected = false;
      up.once('error', (err) => (connected ? sock.destroy() : answer(sock, failure(err))));
      up.once('connect', () => {
        connected = true;
        sock.write(JSON.stringify({ ok: true }) + '\n');
        if (rest.length) up.write(rest);
        sock.pipe(up).pipe(sock);
        up.on('close', () => sock.destroy());
        sock.on('close', () => up.destroy());
      });
      return;
    }
    case 'http':
      try {
        answer(sock, { ok: true, result: await httpRequest(req.url, req.options) });
      } catch (err) {
        answer(sock, failure(err));
      }
      return;
    case 'resolve':
      try {
        const r = new Resolver({ timeout: 2000, tries: 2 });
        r.setServers([req.server]);
        answer(sock, { ok: true, addresses: await r.resolve4(req.name) });
      } catch (err) {
        answer(sock, failure(err));
      }
      return;
    case 'connect': {
      const t0 = Date.now();
      const c = net.connect({ host: req.host, port: req.port });
      const timer = setTimeout(() => c.destroy(Object.assign(new Error(`connect ${req.host}:${req.port}: no answer within ${req.timeoutMs ?? 2000} ms`), { code: 'ETIMEDOUT' })), req.timeoutMs ?? 2000);
      c.once('connect', () => {
        clearTimeout(timer);
        c.destroy();
        answer(sock, { ok: true, ms: Date.now() - t0 });
      });
      c.once('error', (err) => {
        clearTimeout(timer);
        answer(sock, { ...failure(err), ms: Date.now() - t0 });
      });
      return;
    }
    default:
      answer(sock, { ok: false, error: `unknown op ${JSON.stringify((req as { op?: unknown }).op)}; valid: pipe, http, resolve, connect` });
  }
}

function main(): void {
  const socketPath = process.argv[2];
  if (!socketPath) {
    process.stderr.write('usage: netns-agent <unix socket path>\n');
    process.exit(64);
  }
  fs.rmSync(socketPath, { force: true });
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > MAX_LINE) answer(sock, { ok: false, error: `request line longer than ${MAX_LINE} bytes` });
        return;
      }
      sock.off('data', onData);
      sock.pause();
      let req: Request;
      try {
        req = JSON.parse(buf.subarray(0, nl).toString('utf8'));
      } catch (err) {
        answer(sock, { ok: false, error: `request is not JSON: ${(err as Error).message}` });
        return;
      }
      void handle(sock, req, buf.subarray(nl + 1));
    };
    sock.on('data', onData);
    sock.on('error', () => sock.destroy());
  });
  server.listen(socketPath, () => {
    fs.chmodSync(socketPath, 0o600);
    process.stdout.write(JSON.stringify({ msg: 'netns agent listening', path: socketPath, pid: process.pid }) + '\n');
  });
  const stop = () => {
    server.close(() => process.exit(0));
    // Relayed connections do not hold the exit back.
    setTimeout(() => process.exit(0), 500).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) main();
