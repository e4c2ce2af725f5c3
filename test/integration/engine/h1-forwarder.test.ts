/**
 * The lean HTTP/1.1 forwarder (http/h1-forwarder.ts) against real peers: Node's http
 * client and server, raw sockets for what clients rarely do (pipelining, HTTP/1.0,
 * malformed heads) and curl when installed. On one hop (caller -> sidecar -> app) and on
 * the mesh path (caller -> sidecar -> mTLS -> sidecar -> app): pipelined requests answered
 * in order, 204/304/HEAD without bodies on a connection that stays usable, HTTP/1.0
 * callers, field spelling kept, a slow reader throttling a large response, malformed
 * requests answered 400/431 without harm to the proxy, the requests handed to node:http
 * (Expect: 100-continue, Upgrade), and a pooled connection the app drops on reuse: a GET
 * is sent again, a POST is not.
 */
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { createCa } from './harness/pki';
import * as R from './harness/resources';
import { admin, startAdsServer, startFrontend, startWeb } from './harness/engine';

const MESH = 'default';
const BIG = 4 * 1024 * 1024;

/** Writes raw bytes on a fresh connection; resolves with everything read until the peer closes or `untilText` appears `count` times. */
function raw(port: number, data: string | Buffer, o: { untilText?: string; count?: number; timeoutMs?: number } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => done(false), o.timeoutMs ?? 5000);
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (o.untilText && text.split(o.untilText).length - 1 >= (o.count ?? 1)) setTimeout(() => done(false), 50);
    });
    s.on('close', () => done(true));
    s.on('error', () => undefined);
    s.write(data);
  });
}

interface Res {
  status: number;
  rawHeaders: string[];
  body: Buffer;
}

function request(port: number, o: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders | string[]; body?: Buffer; agent?: http.Agent | false; expectContinue?: boolean }): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', agent: o.agent ?? false, headers: o.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error('no answer within 10 s')), 10_000);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    if (o.expectContinue) req.on('continue', () => req.end(o.body));
    else req.end(o.body);
  });
}

function values(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === name) out.push(raw[i + 1]);
  return out;
}

/** Runs curl without blocking the event loop (the engine under test runs in this process). */
function curl(args: string[], input?: Buffer): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d.toString('latin1')));
    c.stderr.on('data', (d) => (stderr += d.toString('latin1')));
    const timer = setTimeout(() => c.kill(), 10_000);
    c.on('close', () => {
      clearTimeout(timer);
      resolve({ stdout, stderr });
    });
    c.stdin.end(input);
  });
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

function statOf(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

t.test('lean HTTP/1.1 forwarder against real peers', async (t) => {
  const { ads, cpCa } = await startAdsServer(t);
  const ca = createCa(MESH);

  const big = crypto.randomBytes(BIG);
  /** /drop-on-reuse requests per app-side socket. */
  const perSocket = new WeakMap<net.Socket, number>();
  /** How often each method reached /drop-on-reuse. */
  const dropSeen: Record<string, number> = {};
  let lastRaw: string[] = [];
  const app = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      lastRaw = req.rawHeaders;
      const url = new URL(req.url ?? '/', 'http://x');
      switch (url.pathname) {
        case '/status': {
          const code = Number(url.searchParams.get('code'));
          res.writeHead(code, { etag: '"v1"' });
          return void res.end();
        }
        case '/big':
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG });
          return void res.end(big);
        case '/chunky':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('part one, ');
          return void setTimeout(() => res.end('part two'), 20);
        case '/hang':
          // Answers long after the route timeout of the `timed` listener.
          return void setTimeout(() => res.end('late'), 1500);
        case '/case':
          res.writeHead(200, ['X-Resp-Case', 'Kept', 'x-dup', '1', 'X-Dup', '2', 'content-length', '2']);
          return void res.end('ok');
        case '/drop-on-reuse': {
          const n = (perSocket.get(req.socket) ?? 0) + 1;
          perSocket.set(req.socket, n);
          dropSeen[req.method ?? ''] = (dropSeen[req.method ?? ''] ?? 0) + 1;
          // The second request on a connection finds it closed, as if the app's keep-alive
          // timeout had fired just as the proxy reused it.
          if (n > 1) return void req.socket.destroy();
          res.writeHead(200, { 'content-length': 2 });
          return void res.end('ok');
        }
        default:
          res.writeHead(200, { 'content-type': 'application/json' });
          return void res.end(JSON.stringify({ method: req.method, url: req.url, bytes: body.length, sha: sha(body) }));
      }
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    app.closeAllConnections();
    app.close();
  });
  const appPort = (app.address() as net.AddressInfo).port;
  const appCluster = `localhost:${appPort}`;

  const timed = R.hcm('timed', { cluster: appCluster });
  timed.typed_config.route_config.virtual_hosts[0].routes[0].route.timeout = '0.3s';
  const web = await startWeb(t, { ads, cpCa, ca, mesh: MESH, appPort, extraListeners: [R.outboundListener('timed', 0, timed)] });
  const fe = await startFrontend(t, { ads, cpCa, ca, mesh: MESH, webInboundPort: web.listenerPort('inbound')! });

  const paths = [
    { what: 'one hop', port: web.listenerPort('direct')! },
    { what: 'mesh path', port: fe.listenerPort('outbound:web')! },
  ];
  for (const p of paths) {
    t.test(`${p.what}: pipelined requests are answered in order, bodies included`, async (t) => {
      const reqs =
        'GET /echo?id=1 HTTP/1.1\r\nHost: a\r\n\r\n' +
        'POST /echo?id=2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
        'PUT /echo?id=3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' +
        'GET /echo?id=4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
      const r = await raw(p.port, reqs);
      t.equal(r.text.split('HTTP/1.1 200').length - 1, 4, 'four answers');
      const ids = [...r.text.matchAll(/"url":"\/echo\?id=(\d)"/g)].map((m) => m[1]);
      t.same(ids, ['1', '2', '3', '4'], 'in the order they were sent');
      t.match(r.text, new RegExp(`"url":"/echo\\?id=2","bytes":5,"sha":"${sha(Buffer.from('hello'))}"`), 'the Content-Length body arrived');
      t.match(r.text, new RegExp(`"url":"/echo\\?id=3","bytes":5,"sha":"${sha(Buffer.from('abcde'))}"`), 'the chunked body arrived');
      t.ok(r.closed, 'Connection: close on the last request closes the connection');
    });

    t.test(`${p.what}: 204, 304 and HEAD carry no body and the connection stays usable`, async (t) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      t.teardown(() => agent.destroy());
      const a = await request(p.port, { path: '/status?code=204', agent });
      t.same({ status: a.status, bytes: a.body.length }, { status: 204, bytes: 0 });
      const b = await request(p.port, { path: '/status?code=304', agent });
      t.same({ status: b.status, bytes: b.body.length, etag: values(b.rawHeaders, 'etag') }, { status: 304, bytes: 0, etag: ['"v1"'] });
      const c = await request(p.port, { method: 'HEAD', path: '/big', agent });
      t.same({ status: c.status, bytes: c.body.length, cl: values(c.rawHeaders, 'content-length') }, { status: 200, bytes: 0, cl: [String(BIG)] });
      const d = await request(p.port, { path: '/echo', agent });
      t.equal(JSON.parse(d.body.toString()).method, 'GET', 'the next request on the same connection is answered');
      // The same on one raw connection: nothing of a body leaks into the next response.
      const r = await raw(p.port, 'GET /status?code=204 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /big HTTP/1.1\r\nHost: a\r\n\r\nGET /echo?id=9 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      t.match(r.text, /^HTTP\/1\.1 204 [^\r]*\r\n(?:[^\r]+\r\n)*\r\nHTTP\/1\.1 200 [^\r]*\r\n(?:[^\r]+\r\n)*\r\nHTTP\/1\.1 200 /, 'three heads back to back');
      t.match(r.text, /"url":"\/echo\?id=9"/);
    });

    t.test(`${p.what}: field spelling and repeats are kept both ways`, async (t) => {
      const r = await request(p.port, { path: '/case', headers: ['Host', 'a', 'X-CamelCase', 'Value', 'x-twice', '1', 'X-Twice', '2'] });
      t.same(values(r.rawHeaders, 'x-resp-case'), ['Kept']);
      t.ok(r.rawHeaders.includes('X-Resp-Case'), 'response field spelling kept');
      t.same(values(r.rawHeaders, 'x-dup'), ['1', '2'], 'a repeated response field stays repeated');
      t.ok(lastRaw.includes('X-CamelCase'), 'request field spelling kept');
      t.same(values(lastRaw, 'x-twice'), ['1', '2'], 'a repeated request field stays repeated');
    });

    t.test(`${p.what}: HTTP/1.0 callers`, async (t) => {
      const a = await raw(p.port, 'GET /echo?id=10 HTTP/1.0\r\nHost: a\r\n\r\n');
      t.match(a.text, /^HTTP\/1\.1 200 /);
      t.match(a.text, /"url":"\/echo\?id=10"/);
      t.ok(a.closed, 'closed after the response (no keep-alive asked)');
      // A response without Content-Length goes to a 1.0 caller delimited by the close, not chunked.
      const b = await raw(p.port, 'GET /chunky HTTP/1.0\r\nHost: a\r\n\r\n');
      t.notMatch(b.text, /transfer-encoding/i, 'not chunked');
      t.match(b.text, /\r\n\r\npart one, part two$/, 'the whole body, then the close');
      t.ok(b.closed);
      // (/case answers with a Content-Length, so the connection can stay open.)
      const c = await raw(p.port, 'GET /case HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n', { untilText: '\r\n\r\nok' });
      t.match(c.text, /connection: keep-alive/i, 'a 1.0 keep-alive caller is told the connection stays open');
      t.notOk(c.closed);
    });

    t.test(`${p.what}: a slow reader throttles a 4 MiB response and gets all of it`, async (t) => {
      const got = await new Promise<{ bytes: number; sha: string }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: p.port, path: '/big', agent: false }, (res) => {
          const h = crypto.createHash('sha256');
          let bytes = 0;
          res.pause();
          setTimeout(() => {
            res.on('data', (c: Buffer) => {
              bytes += c.length;
              h.update(c);
            });
            res.resume();
          }, 500);
          res.on('end', () => resolve({ bytes, sha: h.digest('hex') }));
          res.on('error', reject);
        });
        req.on('error', reject);
      });
      t.same(got, { bytes: BIG, sha: sha(big) });
    });

    t.test(`${p.what}: malformed requests get 400 or 431 and the proxy carries on`, async (t) => {
      const a = await raw(p.port, 'GET / HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n');
      t.match(a.text, /^HTTP\/1\.1 400 /, 'a broken field line: 400');
      t.ok(a.closed, 'and the connection closes');
      const b = await raw(p.port, `GET / HTTP/1.1\r\nHost: a\r\nx-huge: ${'x'.repeat(20_000)}\r\n\r\n`);
      t.match(b.text, /^HTTP\/1\.1 431 /, 'a head over 16 KiB: 431');
      const c = await raw(p.port, 'GET /echo?id=20 HTTP/1.1\r\nHost: a\r\n\r\nGARBAGE\r\n\r\n');
      t.match(c.text, /^HTTP\/1\.1 200 [\s\S]*"url":"\/echo\?id=20"[\s\S]*HTTP\/1\.1 400 /, 'a good request before a bad one is still answered first');
      const e = await raw(p.port, 'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n', { timeoutMs: 3000 });
      t.ok(e.closed, 'a broken chunked body closes the connection instead of leaving it hanging');
      const d = await request(p.port, { path: '/echo' });
      t.equal(d.status, 200, 'the proxy still answers');
    });

    t.test(`${p.what}: requests handed to node:http (Expect: 100-continue, Upgrade) are forwarded`, async (t) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      t.teardown(() => agent.destroy());
      const first = await request(p.port, { path: '/echo', agent });
      t.equal(first.status, 200);
      const body = crypto.randomBytes(10_000);
      const r = await request(p.port, { method: 'POST', path: '/echo', agent, headers: { expect: '100-continue', 'content-length': body.length }, body, expectContinue: true });
      t.same(JSON.parse(r.body.toString()), { method: 'POST', url: '/echo', bytes: body.length, sha: sha(body) }, 'the body arrives after 100 Continue');
      const after = await request(p.port, { path: '/echo?after', agent });
      t.equal(after.status, 200, 'the connection goes on under node:http');
      const u = await request(p.port, { path: '/echo?upgrade', headers: { connection: 'upgrade', upgrade: 'websocket' } });
      t.equal(u.status, 200, 'an Upgrade the app does not take is answered as a plain request');
    });
  }

  t.test('one hop: a pooled connection dropped on reuse: a GET is sent again, a POST is not', async (t) => {
    const port = paths[0].port;
    const retries = async () => statOf((await admin(web, '/stats')).body, `cluster.${appCluster}.upstream_rq_retry`);
    // Connections pooled by earlier tests are reused first; each is dropped on its second /drop-on-reuse.
    const before = await retries();
    const a = await request(port, { path: '/drop-on-reuse' });
    t.equal(a.status, 200, 'the first request opens a connection and is answered');
    const b = await request(port, { path: '/drop-on-reuse' });
    t.equal(b.status, 200, 'the GET whose reused connection was dropped is answered after a retry');
    t.equal((await retries()) - before, 1, 'counted as upstream_rq_retry');
    const postsBefore = dropSeen.POST ?? 0;
    const c = await request(port, { method: 'POST', path: '/drop-on-reuse', headers: { 'content-length': 3 }, body: Buffer.from('abc') });
    t.equal(c.status, 503, 'a POST whose reused connection was dropped is answered 503');
    t.equal((dropSeen.POST ?? 0) - postsBefore, 1, 'and was not sent again');
    t.equal((await retries()) - before, 1, 'no retry counted for it');
  });

  t.test('the route timeout answers 504, once per exchange, and spares the idle connection', async (t) => {
    const port = web.listenerPort('timed')!;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    let t0 = Date.now();
    const a = await request(port, { path: '/hang', agent });
    t.equal(a.status, 504, 'no answer within 0.3 s: 504');
    t.ok(Date.now() - t0 < 1200, `after the route timeout, not the app (${Date.now() - t0} ms)`);
    const b = await request(port, { path: '/echo', agent });
    t.equal(b.status, 200, 'the next request on the same connection is answered');
    // Idle for longer than the route timeout: nothing fires at the connection.
    await new Promise((r) => setTimeout(r, 500));
    const c = await request(port, { path: '/echo', agent });
    t.equal(c.status, 200, 'a request after an idle spell is answered');
    t0 = Date.now();
    const d = await request(port, { path: '/hang', agent });
    t.equal(d.status, 504, 'a second slow request on the connection times out as well');
    t.ok(Date.now() - t0 >= 250, `not earlier than its own timeout (${Date.now() - t0} ms)`);
  });

  t.test('stats count requests on the lean path', async (t) => {
    const before = (await admin(web, '/stats')).body;
    for (let i = 0; i < 5; i++) await request(paths[0].port, { path: '/echo' });
    const after = (await admin(web, '/stats')).body;
    t.equal(statOf(after, 'listener.direct.downstream_rq_total') - statOf(before, 'listener.direct.downstream_rq_total'), 5, 'downstream_rq_total');
    t.equal(statOf(after, `cluster.${appCluster}.upstream_rq_total`) - statOf(before, `cluster.${appCluster}.upstream_rq_total`), 5, 'upstream_rq_total');
  });

  const haveCurl = spawnSync('curl', ['--version']).status === 0;
  t.test('curl: a chunked upload from stdin and two requests on one connection', { skip: haveCurl ? false : 'curl not installed' }, async (t) => {
    const port = paths[1].port;
    const body = crypto.randomBytes(200_000);
    const up = await curl(['-s', '--http1.1', '-T', '-', '-H', 'Transfer-Encoding: chunked', `http://127.0.0.1:${port}/echo?curl`], body);
    t.same(JSON.parse(up.stdout), { method: 'PUT', url: '/echo?curl', bytes: body.length, sha: sha(body) }, 'the chunked upload arrives whole');
    const two = await curl(['-sv', '--http1.1', `http://127.0.0.1:${port}/echo?a`, `http://127.0.0.1:${port}/echo?b`]);
    t.match(two.stdout, /"url":"\/echo\?a"[\s\S]*"url":"\/echo\?b"/, 'both answered');
    t.match(two.stderr, /Re-using existing connection/i, 'over one kept-alive connection');
  });
});
