/**
 * The forwarder's fast path (http/h1-fast.ts) on real sockets, against a scripted app on
 * a raw TCP server that records the exact bytes it receives and answers with exact bytes:
 * ordinary heads go through byte for byte (less the Connection and Keep-Alive lines), so
 * the fast path is seen to be taken, while llhttp re-serialises what it forwards; the two
 * paths alternate on one connection (pipelined bodies, chunked messages, a response head
 * and its body in separate reads); and what the app's response says about its connection
 * (bytes past the end, `Connection: close`, a short `Keep-Alive`) decides reuse on the
 * fast path as it does on llhttp's.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import t, { type Test } from 'tap';
import { createCa } from './harness/pki';
import { startAdsServer, startWeb } from './harness/engine';
import { T } from './harness/ads-server';
import * as R from './harness/resources';

const MESH = 'default';

/** One request as the app saw it. */
interface Seen {
  conn: number;
  text: string;
}

/** The length of the first complete request in `s` (bodyless, Content-Length or chunked), or -1. */
function requestLength(s: string): number {
  const he = s.indexOf('\r\n\r\n');
  if (he < 0) return -1;
  const head = s.slice(0, he);
  const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (cl) return s.length >= he + 4 + Number(cl[1]) ? he + 4 + Number(cl[1]) : -1;
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    const end = s.indexOf('\r\n0\r\n\r\n', he);
    return end < 0 ? -1 : end + 7;
  }
  return he + 4;
}

/** A raw app: for each complete request, `answer` gives the pieces to write (a number is a pause in ms). */
async function scriptedApp(t: Test, answer: (req: string) => (string | number)[]): Promise<{ port: number; seen: Seen[]; conns: () => number }> {
  const seen: Seen[] = [];
  let conns = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    const conn = ++conns;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = '';
    let chain = Promise.resolve();
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let n = requestLength(buf); n > 0; n = requestLength(buf)) {
        const text = buf.slice(0, n);
        buf = buf.slice(n);
        seen.push({ conn, text });
        const pieces = answer(text);
        chain = chain.then(async () => {
          for (const p of pieces) {
            if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
            else if (!s.destroyed) s.write(p, 'latin1');
          }
        });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, seen, conns: () => conns };
}

/** A caller's raw connection: write, and read until `count` responses ending in `marker` arrived or the peer closed. */
function caller(port: number): { send(data: string, until: string, count?: number): Promise<string>; closed: () => boolean; end(): void } {
  const s = net.connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  let wake: (() => void) | undefined;
  s.on('data', (d) => {
    text += d.toString('latin1');
    wake?.();
  });
  s.on('close', () => {
    closed = true;
    wake?.();
  });
  s.on('error', () => undefined);
  return {
    async send(data, until, count = 1) {
      text = '';
      s.write(data, 'latin1');
      const deadline = Date.now() + 5000;
      while (text.split(until).length - 1 < count && !closed && Date.now() < deadline) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
      // Anything the proxy wrongly adds after the expected end shows up here.
      await new Promise((r) => setTimeout(r, 50));
      return text;
    },
    closed: () => closed,
    end: () => s.destroy(),
  };
}

/** /trickle's body: pieces of distinct bytes, so that a read buffer reused too early shows up in the digest. */
const TRICKLE_PIECES = 2400;
const TRICKLE_PIECE = 10_000;
const trickle = Array.from({ length: TRICKLE_PIECES }, (_, i) => crypto.createHash('sha512').update(String(i)).digest('hex').repeat(Math.ceil(TRICKLE_PIECE / 128)).slice(0, TRICKLE_PIECE));
const trickleSha = crypto.createHash('sha256').update(trickle.join('')).digest('hex');

const OK = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nx-resp:kept \r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

t.test('the fast path on real sockets', async (t) => {
  const { ads, cpCa } = await startAdsServer(t);
  const ca = createCa(MESH);
  const app = await scriptedApp(t, (req) => {
    const path = req.slice(req.indexOf(' ') + 1, req.indexOf(' ', req.indexOf(' ') + 1));
    switch (path) {
      case '/chunked':
        return ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 10, '4\r\nchun\r\n', 10, '3\r\nked\r\n0\r\n\r\n'];
      case '/split':
        return ['HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n', 10, 'spl', 10, 'it b', 10, 'y'];
      case '/no-content':
        return ['HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n'];
      case '/junk':
        return [OK('ok') + 'JUNK'];
      case '/chunked-junk':
        // A chunked response (llhttp's) with a whole second response glued on behind it.
        return ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil'];
      case '/close':
        return [OK('bye', 'Connection: close\r\n')];
      case '/short-keepalive':
        return [OK('short', 'Connection: keep-alive\r\nKeep-Alive: timeout=1\r\n')];
      case '/trickle': {
        // Pieces written with pauses, so they reach the proxy as many reads while its caller is not reading.
        const out: (string | number)[] = [`HTTP/1.1 200 OK\r\nContent-Length: ${TRICKLE_PIECES * TRICKLE_PIECE}\r\n\r\n`];
        trickle.forEach((p, i) => out.push(p, ...(i % 8 === 7 ? [1] : [])));
        return out;
      }
      case '/head':
        return ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'];
      default:
        return [OK(`${path} ok`, 'Connection: keep-alive\r\nKeep-Alive: timeout=30\r\n')];
    }
  });
  // A second app behind a route that matches on a request field (a canary by header).
  const canary = await scriptedApp(t, () => [OK('canary')]);
  const byHeader = R.hcm('hdr', { cluster: `localhost:${app.port}` });
  byHeader.typed_config.route_config.virtual_hosts[0].routes = [
    { match: { prefix: '/', headers: [{ name: 'x-canary', string_match: { exact: 'yes' } }] }, route: { cluster: `localhost:${canary.port}`, timeout: '0s' } },
    { match: { prefix: '/' }, route: { cluster: `localhost:${app.port}`, timeout: '0s' } },
  ];
  const web = await startWeb(t, { ads, cpCa, ca, mesh: MESH, appPort: app.port, extraListeners: [R.outboundListener('by-header', 0, byHeader)] });
  ads.set(`${MESH}.web`, T.Cluster, [R.localCluster(app.port), R.localCluster(canary.port)]);
  const port = web.listenerPort('direct')!;

  t.test('an ordinary exchange goes through byte for byte, less the hop-by-hop lines', async (t) => {
    const c = caller(port);
    t.teardown(() => c.end());
    const text = await c.send('GET /plain HTTP/1.1\r\nHost: web\r\nx-odd:value\r\nX-Sp:  two  spaces \r\nConnection: keep-alive\r\n\r\n', '/plain ok');
    t.equal(app.seen.at(-1)!.text, 'GET /plain HTTP/1.1\r\nHost: web\r\nx-odd:value\r\nX-Sp:  two  spaces \r\n\r\n', 'the request as sent, without its Connection line');
    t.equal(text, 'HTTP/1.1 200 OK\r\nx-resp:kept \r\nContent-Length: 9\r\n\r\n/plain ok', 'the response as sent, without Connection and Keep-Alive');
    // The same request with a Transfer-Encoding body goes through llhttp, which re-serialises it.
    await c.send('POST /plain HTTP/1.1\r\nHost: web\r\nx-odd:value\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n', '/plain ok');
    t.equal(app.seen.at(-1)!.text, 'POST /plain HTTP/1.1\r\nHost: web\r\nx-odd: value\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n', 'llhttp path: fields re-serialised');
  });

  t.test('Content-Length bodies on the fast path: split across reads, the next request right behind', async (t) => {
    const before = app.seen.length;
    const s = net.connect(port, '127.0.0.1');
    t.teardown(() => s.destroy());
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    await new Promise((r) => s.once('connect', r));
    s.write('POST /up HTTP/1.1\r\nHost: a\r\nx-odd:v\r\nContent-Length: 5\r\n\r\nhel');
    await new Promise((r) => setTimeout(r, 50));
    s.write('l');
    await new Promise((r) => setTimeout(r, 50));
    s.write('oGET /after-body HTTP/1.1\r\nHost: a\r\n\r\n');
    for (let i = 0; i < 50 && !text.includes('/after-body ok'); i++) await new Promise((r) => setTimeout(r, 20));
    t.same(
      app.seen.slice(before).map((x) => x.text),
      ['POST /up HTTP/1.1\r\nHost: a\r\nx-odd:v\r\nContent-Length: 5\r\n\r\nhello', 'GET /after-body HTTP/1.1\r\nHost: a\r\n\r\n'],
      'the head as sent, its body whole, then the next request',
    );
    t.match(text, /\r\n\r\n\/up ok[\s\S]*\r\n\r\n\/after-body ok$/, 'both answered, in order');

    // A 1 MiB upload of random bytes.
    const body = crypto.randomBytes(1 << 20);
    const c = caller(port);
    t.teardown(() => c.end());
    const answer = await c.send(Buffer.concat([Buffer.from(`PUT /blob HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`), body]).toString('latin1'), '/blob ok');
    t.match(answer, /\/blob ok$/);
    const seen = app.seen.at(-1)!.text;
    const got = Buffer.from(seen.slice(seen.indexOf('\r\n\r\n') + 4), 'latin1');
    t.equal(got.length, body.length, 'every byte of the upload');
    t.ok(got.equals(body), 'and the same bytes');
  });

  t.test('a route matching on a request field: the fast path lists the fields for it', async (t) => {
    const c = caller(web.listenerPort('by-header')!);
    t.teardown(() => c.end());
    const before = canary.seen.length;
    const text = await c.send('GET /c HTTP/1.1\r\nHost: a\r\nX-Canary:  yes \r\n\r\nGET /d HTTP/1.1\r\nHost: a\r\nx-canary: no\r\n\r\n', '/d ok');
    t.match(text, /\r\n\r\ncanary[\s\S]*\r\n\r\n\/d ok$/, 'x-canary: yes went to the canary, the other to the app');
    t.equal(canary.seen.length, before + 1);
    t.equal(canary.seen.at(-1)!.text, 'GET /c HTTP/1.1\r\nHost: a\r\nX-Canary:  yes \r\n\r\n', 'and byte for byte: the fast path carried it');
  });

  t.test('the two paths alternate on one connection, pipelined', async (t) => {
    const c = caller(port);
    t.teardown(() => c.end());
    const before = app.seen.length;
    const text = await c.send(
      'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n' +
        'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
        'GET /split HTTP/1.1\r\nHost: a\r\n\r\n' +
        'PUT /4 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
        'GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n' +
        'GET /no-content HTTP/1.1\r\nHost: a\r\n\r\n' +
        'GET /7 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      '/7 ok',
    );
    const seen = app.seen.slice(before).map((s) => s.text);
    t.same(
      seen.map((s) => s.split(' ')[1]),
      ['/1', '/2', '/split', '/4', '/chunked', '/no-content', '/7'],
      'the app got every request, in order',
    );
    t.match(seen[1], /\r\n\r\nhello$/, 'the Content-Length body');
    t.match(seen[3], /\r\n\r\n3\r\nabc\r\n0\r\n\r\n$/, 'the chunked body');
    t.equal(seen[6], 'GET /7 HTTP/1.1\r\nHost: a\r\n\r\n', 'after llhttp, the fast path again (Connection: close dropped)');
    const bodies = text.split(/HTTP\/1\.1 /).slice(1);
    t.equal(bodies.length, 7, 'seven responses');
    t.match(bodies[0], /\r\n\r\n\/1 ok$/);
    t.match(bodies[1], /\r\n\r\n\/2 ok$/);
    t.match(bodies[2], /^200 OK\r\nContent-Length: 8\r\n\r\nsplit by$/, 'a body that came in three reads after its head');
    t.match(bodies[3], /\r\n\r\n\/4 ok$/);
    t.match(bodies[4], /^200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nchun\r\n3\r\nked\r\n0\r\n\r\n$/i, 'the chunked response');
    t.match(bodies[5], /^204 No Content\r\nx-a: 1\r\n\r\n$/, '204 without a body');
    t.match(bodies[6], /^200 OK\r\nx-resp:kept \r\nContent-Length: 5\r\nconnection: close\r\n\r\n\/7 ok$/, 'the caller asked to close: told so');
    t.ok(c.closed(), 'and closed');
  });

  /** Sends `first`, then /again on the same caller connection; true when /again went on the same app connection. */
  async function reused(t: Test, first: string, until: string): Promise<{ text: string; reused: boolean }> {
    const c = caller(port);
    t.teardown(() => c.end());
    const text = await c.send(`GET ${first} HTTP/1.1\r\nHost: a\r\n\r\n`, until);
    const a = app.seen.at(-1)!.conn;
    const again = await c.send('GET /again HTTP/1.1\r\nHost: a\r\n\r\n', '/again ok');
    t.match(again, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\/again ok$/, 'the next request is answered');
    return { text, reused: app.seen.at(-1)!.conn === a };
  }

  t.test('bytes past the end of a response: the caller gets the response, the app connection is not reused', async (t) => {
    const r = await reused(t, '/junk', 'ok');
    t.equal(r.text, 'HTTP/1.1 200 OK\r\nx-resp:kept \r\nContent-Length: 2\r\n\r\nok');
    t.notOk(r.reused);
  });

  t.test('a whole extra response behind a chunked one never answers the next request', async (t) => {
    const before = app.seen.length;
    const c = caller(port);
    t.teardown(() => c.end());
    // Pipelined: the second request is waiting when the first response ends.
    const text = await c.send('GET /chunked-junk HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n', '/next ok');
    t.notMatch(text, /evil/, 'the glued-on response reached nobody');
    t.match(text, /\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP\/1\.1 200 OK\r\n[\s\S]*\/next ok$/, 'the chunked response, then the real answer to /next');
    const seen = app.seen.slice(before);
    t.equal(seen.length, 2);
    t.not(seen[1].conn, seen[0].conn, '/next went on another connection');
  });

  t.test('the app says Connection: close: not reused', async (t) => {
    const r = await reused(t, '/close', 'bye');
    t.notMatch(r.text, /connection/i, 'the caller\'s connection stays open (close was the app\'s, hop by hop)');
    t.notOk(r.reused);
  });

  t.test('Keep-Alive: timeout=1 from the app: not reused (its limit less a second is 0)', async (t) => {
    const r = await reused(t, '/short-keepalive', 'short');
    t.notOk(r.reused);
  });

  t.test('a plain keep-alive response: reused', async (t) => {
    const r = await reused(t, '/keep', '/keep ok');
    t.ok(r.reused, 'the same app connection carries the next request');
  });

  t.test('the response to HEAD has no body whatever its Content-Length, and the connection goes on', async (t) => {
    const c = caller(port);
    t.teardown(() => c.end());
    const head = await c.send('HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n', 'Content-Length: 100\r\n\r\n');
    t.equal(head, 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
    const a = app.seen.at(-1)!.conn;
    const next = await c.send('GET /after-head HTTP/1.1\r\nHost: a\r\n\r\n', '/after-head ok');
    t.match(next, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\/after-head ok$/);
    t.equal(app.seen.at(-1)!.conn, a, 'on the same app connection');
  });

  t.test('a caller that stops reading while the app trickles 24 MB gets every byte right', async (t) => {
    const got = await new Promise<{ bytes: number; sha: string }>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      const h = crypto.createHash('sha256');
      let head = '';
      let bytes = 0;
      s.on('error', reject);
      s.write('GET /trickle HTTP/1.1\r\nHost: a\r\n\r\n');
      s.pause();
      // Full socket buffers on both sides of the proxy: its writes wait while it still reads.
      setTimeout(() => s.resume(), 1500);
      s.on('data', (d: Buffer) => {
        if (head === '' || !head.includes('\r\n\r\n')) {
          head += d.toString('latin1');
          const i = head.indexOf('\r\n\r\n');
          if (i < 0) return;
          d = Buffer.from(head.slice(i + 4), 'latin1');
          head = head.slice(0, i + 4);
        }
        bytes += d.length;
        h.update(d);
        if (bytes >= TRICKLE_PIECES * TRICKLE_PIECE) {
          s.destroy();
          resolve({ bytes, sha: h.digest('hex') });
        }
      });
      setTimeout(() => reject(new Error(`only ${bytes} bytes in 20 s`)), 20_000).unref();
    });
    t.same(got, { bytes: TRICKLE_PIECES * TRICKLE_PIECE, sha: trickleSha });
  });

  t.test('an HTTP/1.0 caller (llhttp) is told a fast-path response keeps the connection', async (t) => {
    const c = caller(port);
    t.teardown(() => c.end());
    const text = await c.send('GET /old HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n', '/old ok');
    t.equal(text, 'HTTP/1.1 200 OK\r\nx-resp:kept \r\nContent-Length: 7\r\nconnection: keep-alive\r\n\r\n/old ok');
    t.notOk(c.closed());
  });
});
