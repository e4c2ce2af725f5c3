/**
 * What the HTTP/1.1 proxy forwards, on one hop (caller -> sidecar -> app) and on the mesh
 * path (caller -> sidecar -> mTLS -> sidecar -> app): fields sent several times stay
 * several fields, hop-by-hop fields (also those named by Connection) are dropped both
 * ways, bodies of every framing arrive whole (a large one through backpressure), HEAD
 * keeps its Content-Length without a body, a caller that goes away aborts the upstream
 * request, and an app that resets mid-body cuts the caller's response short instead of
 * completing it. Pins the raw-header and bodiless fast paths of http/http-proxy.ts.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import t from 'tap';
import { createCa } from './harness/pki';
import { startAdsServer, startFrontend, startWeb } from './harness/engine';

const MESH = 'default';
const BIG = 5 * 1024 * 1024;

interface Seen {
  method: string;
  rawHeaders: string[];
  bytes: number;
  sha: string;
}

interface Got {
  status: number;
  rawHeaders: string[];
  bytes: number;
  sha: string;
  complete: boolean;
}

/** Sends one request on a fresh connection; resolves with what came back, or how it ended. */
function send(port: number, o: { method?: string; path?: string; headers?: string[]; body?: Buffer | Buffer[] }): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', agent: false, headers: ['host', `127.0.0.1:${port}`, ...(o.headers ?? [])] }, (res) => {
      const h = crypto.createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        h.update(c);
      });
      const done = () => resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, bytes, sha: h.digest('hex'), complete: res.complete });
      res.on('end', done);
      res.on('aborted', () => undefined);
      res.on('error', () => undefined);
      res.on('close', () => {
        if (!res.complete) done();
      });
    });
    const timer = setTimeout(() => req.destroy(new Error('no answer within 10 s')), 10_000);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    const parts = o.body === undefined ? [] : Array.isArray(o.body) ? o.body : [o.body];
    for (const p of parts) req.write(p);
    req.end();
  });
}

function values(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === name) out.push(raw[i + 1]);
  return out;
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

t.test('HTTP/1.1 forwarding: fields, hop-by-hop, bodies, aborts', async (t) => {
  const { ads, cpCa } = await startAdsServer(t);
  const ca = createCa(MESH);

  let last: Seen | undefined;
  /** Resolves when the app sees its response to /slow close before it was finished. */
  let slowAborted: () => void = () => undefined;
  const big = crypto.randomBytes(BIG);
  const app = http.createServer((req, res) => {
    const h = crypto.createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      h.update(c);
    });
    req.on('end', () => {
      const digest = h.digest('hex');
      last = { method: req.method ?? '', rawHeaders: req.rawHeaders, bytes, sha: digest };
      switch (req.url) {
        case '/fields':
          res.writeHead(200, ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-resp', 'one', 'x-resp', 'two', 'connection', 'x-internal', 'x-internal', 'secret', 'content-length', '2']);
          return void res.end('ok');
        case '/big':
          // No Content-Length: chunked to the sidecar, streamed with backpressure to the caller.
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          for (let off = 0; off < big.length; off += 64 * 1024) res.write(big.subarray(off, off + 64 * 1024));
          return void res.end();
        case '/head':
          res.writeHead(200, { 'content-length': 1234 });
          return void res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(1234));
        case '/slow': {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first part\n');
          const timer = setInterval(() => res.write('more\n'), 50);
          res.on('close', () => {
            clearInterval(timer);
            if (!res.writableFinished) slowAborted();
          });
          return;
        }
        case '/reset':
          res.writeHead(200, { 'content-length': 100000 });
          res.write(Buffer.alloc(1000));
          return void setTimeout(() => req.socket.destroy(), 50);
        default:
          res.writeHead(200, { 'content-type': 'application/json' });
          return void res.end(JSON.stringify({ bytes, sha: digest }));
      }
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    app.closeAllConnections();
    app.close();
  });
  const appPort = (app.address() as net.AddressInfo).port;

  const web = await startWeb(t, { ads, cpCa, ca, mesh: MESH, appPort });
  const fe = await startFrontend(t, { ads, cpCa, ca, mesh: MESH, webInboundPort: web.listenerPort('inbound')! });

  const paths = [
    { what: 'one hop', port: web.listenerPort('direct')! },
    { what: 'mesh path', port: fe.listenerPort('outbound:web')! },
  ];
  for (const p of paths) {
    t.test(`${p.what}: repeated fields stay repeated, hop-by-hop fields are dropped both ways`, async (t) => {
      const r = await send(p.port, {
        path: '/fields',
        headers: ['x-multi', 'a', 'x-multi', 'b', 'Connection', 'keep-alive, X-Private', 'x-private', 'do-not-forward', 'keep-alive', 'timeout=5', 'proxy-connection', 'keep-alive', 'te', 'trailers'],
      });
      t.equal(r.status, 200);
      t.same(values(last!.rawHeaders, 'x-multi'), ['a', 'b'], 'the app sees x-multi twice, in order');
      t.same(values(last!.rawHeaders, 'x-private'), [], 'a field named by Connection is not forwarded');
      t.same(values(last!.rawHeaders, 'proxy-connection'), [], 'proxy-connection is not forwarded');
      t.same(values(last!.rawHeaders, 'te'), [], 'te is not forwarded');
      t.same(values(last!.rawHeaders, 'keep-alive'), [], "the caller's keep-alive field is not forwarded");
      t.equal(last!.bytes, 0, 'a GET without a body arrives without one');
      t.same(values(last!.rawHeaders, 'transfer-encoding'), [], 'a GET without a body is not sent chunked');
      t.same(values(r.rawHeaders, 'set-cookie'), ['a=1', 'b=2'], 'both set-cookie fields reach the caller');
      t.same(values(r.rawHeaders, 'x-resp'), ['one', 'two'], 'a repeated response field reaches the caller as sent');
      t.same(values(r.rawHeaders, 'x-internal'), [], "a response field named by the app's Connection is not forwarded");
    });

    t.test(`${p.what}: request bodies arrive whole`, async (t) => {
      const small = Buffer.from('name=value&x=1');
      let r = await send(p.port, { method: 'POST', path: '/echo', headers: ['content-length', String(small.length)], body: small });
      t.equal(r.status, 200);
      t.same({ bytes: last!.bytes, sha: last!.sha }, { bytes: small.length, sha: sha(small) }, 'a Content-Length body arrives as sent');
      // No Content-Length: Node sends it chunked.
      const parts = [crypto.randomBytes(70_000), crypto.randomBytes(1), crypto.randomBytes(300_000)];
      r = await send(p.port, { method: 'PUT', path: '/echo', body: parts });
      t.equal(r.status, 200);
      t.same({ bytes: last!.bytes, sha: last!.sha }, { bytes: 370_001, sha: sha(Buffer.concat(parts)) }, 'a chunked body arrives as sent');
      r = await send(p.port, { method: 'POST', path: '/echo', headers: ['content-length', String(BIG)], body: big });
      t.equal(r.status, 200);
      t.same({ bytes: last!.bytes, sha: last!.sha }, { bytes: BIG, sha: sha(big) }, 'a 5 MiB body arrives as sent');
      r = await send(p.port, { method: 'POST', path: '/echo', headers: ['content-length', '0'] });
      t.equal(r.status, 200);
      t.equal(last!.method, 'POST', 'a POST with Content-Length: 0 is forwarded');
      t.same(values(last!.rawHeaders, 'content-length'), ['0'], 'with its Content-Length: 0');
    });

    t.test(`${p.what}: a 5 MiB streamed response and HEAD`, async (t) => {
      const r = await send(p.port, { path: '/big' });
      t.same({ status: r.status, bytes: r.bytes, sha: r.sha, complete: r.complete }, { status: 200, bytes: BIG, sha: sha(big), complete: true }, 'the whole response arrives');
      const h = await send(p.port, { method: 'HEAD', path: '/head' });
      t.same({ status: h.status, bytes: h.bytes, cl: values(h.rawHeaders, 'content-length') }, { status: 200, bytes: 0, cl: ['1234'] }, 'HEAD: Content-Length kept, no body');
      const g = await send(p.port, { path: '/head' });
      t.equal(g.bytes, 1234, 'the GET after it on the same sidecar gets its body');
    });

    t.test(`${p.what}: a caller that goes away aborts the upstream request`, async (t) => {
      const aborted = new Promise<void>((r) => (slowAborted = r));
      const req = http.request({ host: '127.0.0.1', port: p.port, path: '/slow', agent: false });
      req.on('error', () => undefined);
      req.on('response', (res) => res.once('data', () => req.destroy()));
      req.end();
      const ok = await Promise.race([aborted.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      t.ok(ok, "the app's response was closed before it finished");
    });

    t.test(`${p.what}: an app reset mid-body cuts the caller's response short`, async (t) => {
      const r = await send(p.port, { path: '/reset' });
      t.equal(r.status, 200, 'the head had been forwarded');
      t.equal(r.complete, false, 'the response is not completed');
      t.ok(r.bytes < 100000, `only part of the body arrived (${r.bytes} bytes)`);
    });
  }
});
