/**
 * The forwarder's fast path for message heads (http/h1-fast.ts), checked against llhttp
 * (Node's own HTTP parser, strict mode) as the independent reference: whatever the fast
 * path takes, llhttp must parse the same way (method, target, status, keep-alive, Host,
 * framing), and the bytes it forwards must carry exactly the end-to-end fields the
 * llhttp path would forward. What it declines goes to llhttp, so declining is always
 * safe; the cases that must be declined are listed, and a seeded fuzz mutates ordinary
 * heads byte by byte to look for anything taken that llhttp would read otherwise.
 */
import t from 'tap';
import { FastHead, fieldList, keptHead, parseRequestHead, parseResponseHead } from '../../../agent/engine/embedded/http/h1-fast';
import { HTTPParser, METHODS, SKIP_BODY, PROCEED } from '../../../agent/engine/embedded/http/llhttp';
import { scanHead } from '../../../agent/engine/embedded/http/h1-head';

interface Parsed {
  ok: boolean;
  error?: string;
  method?: string;
  url?: string;
  minor?: number;
  status?: number;
  keepAlive?: boolean;
  raw: string[];
  bodyBytes: number;
  complete: boolean;
}

/** llhttp's reading of `d` (one message; `skipBody`: the response to a HEAD). */
function llhttp(d: Buffer, type: 'request' | 'response', skipBody = false): Parsed {
  const p = new HTTPParser();
  p.initialize(type === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 16 * 1024, HTTPParser.kLenientNone);
  const out: Parsed = { ok: false, raw: [], bodyBytes: 0, complete: false };
  const part: string[] = [];
  let partUrl = '';
  let messages = 0;
  p[HTTPParser.kOnHeaders] = (h: string[], url: string) => {
    part.push(...h);
    partUrl += url ?? '';
  };
  p[HTTPParser.kOnHeadersComplete] = (_maj: number, min: number, h: string[] | undefined, method: number, url: string | undefined, status: number, _reason: string, _upg: boolean, keepAlive: boolean) => {
    messages++;
    out.raw = h ?? part;
    out.url = url || partUrl;
    out.minor = min;
    out.method = type === 'request' ? METHODS[method] : undefined;
    out.status = status;
    out.keepAlive = keepAlive;
    return skipBody ? SKIP_BODY : PROCEED;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    out.bodyBytes += b.length;
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    out.complete = true;
  };
  const r = p.execute(d);
  if (typeof r !== 'number') out.error = String(r.code ?? r.message);
  else out.ok = messages === 1;
  return out;
}

/** The first Host value, as the llhttp path (scanHead) takes it. */
function firstHost(raw: string[]): string {
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === 'host') return raw[i + 1];
  return '';
}

/** Checks that a head the fast path took is read the same by llhttp; returns the problems found. */
function compareRequest(d: Buffer): string[] {
  const h = new FastHead();
  if (!parseRequestHead(d, 0, h)) return [];
  const bad: string[] = [];
  // The head may come before all of its body: the rest is made up for llhttp.
  const body = Buffer.alloc(Math.max(h.contentLength, 0), 'b');
  d.copy(body, 0, h.end, h.end + body.length);
  const ll = llhttp(Buffer.concat([d.subarray(0, h.end), body]), 'request');
  if (!ll.ok || !ll.complete) return [`taken, but llhttp says ${ll.error ?? 'incomplete'}`];
  if (ll.method !== h.method) bad.push(`method ${h.method} vs ${ll.method}`);
  if (ll.url !== h.url) bad.push(`url ${h.url} vs ${ll.url}`);
  if (ll.minor !== 1) bad.push(`HTTP/1.${ll.minor}`);
  if (ll.keepAlive !== !h.close) bad.push(`keep-alive ${!h.close} vs ${ll.keepAlive}`);
  const info = scanHead(ll.raw);
  if (info.host !== h.host && firstHost(ll.raw) !== h.host) bad.push(`host ${h.host} vs ${info.host}`);
  // What route header matchers read: llhttp's own list, hop-by-hop fields included.
  const listed = fieldList(d, 0, h);
  if (JSON.stringify(listed) !== JSON.stringify(ll.raw)) bad.push(`field list ${JSON.stringify(listed)} vs ${JSON.stringify(ll.raw)}`);
  if (info.transferEncoding || info.expectContinue) bad.push('Transfer-Encoding or Expect was taken');
  if (info.contentLength !== h.contentLength || ll.bodyBytes !== body.length) bad.push(`body ${h.contentLength} vs ${info.contentLength} (llhttp read ${ll.bodyBytes})`);
  // What goes upstream: the llhttp path's fields, exactly.
  const fwd = llhttp(keptHead(d, 0, h, false), 'request');
  if (!fwd.ok) bad.push(`forwarded head does not parse: ${fwd.error}`);
  else if (JSON.stringify(fwd.raw) !== JSON.stringify(info.fields)) bad.push(`forwarded ${JSON.stringify(fwd.raw)} vs ${JSON.stringify(info.fields)}`);
  return bad;
}

function compareResponse(d: Buffer, headRequest: boolean): string[] {
  const h = new FastHead();
  if (!parseResponseHead(d, 0, h, headRequest)) return [];
  const bad: string[] = [];
  // The head may come before all of its body: the rest is made up for llhttp.
  const body = Buffer.alloc(h.contentLength, 'b');
  d.copy(body, 0, h.end, h.end + h.contentLength);
  const message = Buffer.concat([d.subarray(0, h.end), body]);
  const ll = llhttp(message, 'response', headRequest);
  if (!ll.ok || !ll.complete) return [`taken, but llhttp says ${ll.error ?? 'incomplete'}`];
  if (ll.status !== h.status) bad.push(`status ${h.status} vs ${ll.status}`);
  if (ll.minor !== 1) bad.push(`HTTP/1.${ll.minor}`);
  if (ll.keepAlive !== !h.close) bad.push(`keep-alive ${!h.close} vs ${ll.keepAlive}`);
  if (ll.bodyBytes !== h.contentLength) bad.push(`body ${h.contentLength} vs ${ll.bodyBytes}`);
  const info = scanHead(ll.raw);
  if (info.transferEncoding) bad.push('Transfer-Encoding taken');
  if (info.keepAliveTimeoutS !== h.keepAliveTimeoutS) bad.push(`keep-alive timeout ${h.keepAliveTimeoutS} vs ${info.keepAliveTimeoutS}`);
  const fwd = llhttp(Buffer.concat([keptHead(d, 0, h, false), body]), 'response', headRequest);
  if (!fwd.ok) bad.push(`forwarded head does not parse: ${fwd.error}`);
  else if (JSON.stringify(fwd.raw) !== JSON.stringify(info.fields)) bad.push(`forwarded ${JSON.stringify(fwd.raw)} vs ${JSON.stringify(info.fields)}`);
  return bad;
}

const b = (s: string) => Buffer.from(s, 'latin1');

const REQUESTS = [
  'GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n',
  'GET /a/b?c=d&e HTTP/1.1\r\nHost: web.mesh\r\nConnection: keep-alive\r\n\r\n',
  'HEAD /x HTTP/1.1\r\nhost:web\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n',
  'DELETE /items/7 HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Trace:  abc  \r\n\r\n',
  'OPTIONS /o HTTP/1.1\r\nHOST: a\r\nKeep-Alive: timeout=5\r\nconnection: Keep-Alive\r\nx-obs: caf\xe9\r\n\r\n',
  'POST /empty HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n',
  'POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\nConnection: keep-alive\r\n\r\na=1&b=2',
  'PUT /half HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nfirst',
  'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\nX-Tab:\tv\tw\t\r\n\r\n',
];

const RESPONSES = [
  'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n{}',
  'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 503 \r\ncontent-length: 3\r\nconnection: close\r\n\r\nbad',
  'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n',
  'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 10\r\n\r\n',
  'HTTP/1.1 200 OK\r\nKEEP-ALIVE: max=9, TIMEOUT=12\r\nContent-Length: 1\r\n\r\nx',
];

t.test('ordinary heads are taken, and llhttp reads them the same way', async (t) => {
  for (const s of REQUESTS) {
    const h = new FastHead();
    t.ok(parseRequestHead(b(s), 0, h), `taken: ${JSON.stringify(s)}`);
    t.same(compareRequest(b(s)), [], JSON.stringify(s));
  }
  for (const s of RESPONSES) {
    const h = new FastHead();
    t.ok(parseResponseHead(b(s), 0, h, false), `taken: ${JSON.stringify(s)}`);
    t.same(compareResponse(b(s), false), [], JSON.stringify(s));
  }
});

t.test('what the fast path reads from a head', async (t) => {
  const h = new FastHead();
  const req = b('GET /a?b HTTP/1.1\r\nHost: web.mesh:80\r\nConnection: close\r\nAccept: */*\r\n\r\nGET / HTTP/1.1\r\n');
  t.ok(parseRequestHead(req, 0, h));
  t.same({ method: h.method, url: h.url, host: h.host, close: h.close, end: h.end }, { method: 'GET', url: '/a?b', host: 'web.mesh:80', close: true, end: req.indexOf('GET /', 1) });
  t.equal(keptHead(req, 0, h, false).toString('latin1'), 'GET /a?b HTTP/1.1\r\nHost: web.mesh:80\r\nAccept: */*\r\n\r\n', 'Connection line left out');
  // A second request after the first, in the same buffer.
  const two = b('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\nConnection: keep-alive\r\n\r\n');
  t.ok(parseRequestHead(two, 0, h));
  const second = h.end;
  t.ok(parseRequestHead(two, second, h));
  t.same({ url: h.url, host: h.host, end: h.end }, { url: '/2', host: 'b', end: two.length });
  t.equal(keptHead(two, second, h, false).toString('latin1'), 'GET /2 HTTP/1.1\r\nHost: b\r\n\r\n');
  const post = b('POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n');
  t.ok(parseRequestHead(post, 0, h), 'a Content-Length body');
  t.same({ cl: h.contentLength, body: post.toString('latin1', h.end, h.end + h.contentLength) }, { cl: 5, body: 'hello' }, 'the body follows the head; its length is the caller\'s to count');

  const res = b(RESPONSES[0]);
  t.ok(parseResponseHead(res, 0, h, false));
  t.same({ status: h.status, cl: h.contentLength, ka: h.keepAliveTimeoutS, close: h.close, body: res.subarray(h.end).toString() }, { status: 200, cl: 2, ka: 5, close: false, body: '{}' });
  t.equal(keptHead(res, 0, h, true).toString('latin1'), 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\n', 'hop-by-hop lines and the blank line cut');
  t.ok(parseResponseHead(b('HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n'), 0, h, true), 'the response to HEAD');
  t.equal(h.contentLength, 0, 'has no body whatever Content-Length says');
  t.ok(parseResponseHead(b('HTTP/1.1 204 No Content\r\n\r\n'), 0, h, false));
  t.equal(h.contentLength, 0, '204: no body');
});

t.test('heads the fast path leaves to llhttp', async (t) => {
  const declinedRequests: [string, string][] = [
    ['incomplete head', 'GET / HTTP/1.1\r\nHost: a\r\n'],
    ['request line only', 'GET / HTTP/1.1\r\n'],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['absolute-form target', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['asterisk-form target', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n'],
    ['lower-case method', 'get / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['unknown method', 'PURGE / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['two spaces', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['chunked body', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two Content-Length', 'GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n'],
    ['Content-Length not a number', 'GET / HTTP/1.1\r\nContent-Length: +0\r\n\r\n'],
    ['two Host', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['Expect', 'GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n'],
    ['Upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
    ['Connection naming a field', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Private\r\nX-Private: 1\r\n\r\n'],
    ['Connection list', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n'],
    ['two Connection fields', 'GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: keep-alive\r\n\r\n'],
    ['TE', 'GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n'],
    ['Proxy-Connection', 'GET / HTTP/1.1\r\nProxy-Connection: keep-alive\r\n\r\n'],
    ['Proxy-Authorization', 'GET / HTTP/1.1\r\nProxy-Authorization: Basic x\r\n\r\n'],
    ['Trailer', 'GET / HTTP/1.1\r\nTrailer: x\r\n\r\n'],
    ['folded line', 'GET / HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\n'],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
    ['bare LF', 'GET / HTTP/1.1\nHost: a\n\n'],
    ['bare LF in a field', 'GET / HTTP/1.1\r\nX-A: 1\nX-B: 2\r\n\r\n'],
    ['bare CR in a value', 'GET / HTTP/1.1\r\nX-A: 1\r2\r\n\r\n'],
    ['NUL in a value', 'GET / HTTP/1.1\r\nX-A: 1\x002\r\n\r\n'],
    ['DEL in a value', 'GET / HTTP/1.1\r\nX-A: 1\x7f\r\n\r\n'],
    ['control character in the target', 'GET /a\x01b HTTP/1.1\r\n\r\n'],
    ['non-ASCII target', 'GET /caf\xe9 HTTP/1.1\r\n\r\n'],
    ['no name', 'GET / HTTP/1.1\r\n: a\r\n\r\n'],
    ['more hop-by-hop lines than it drops', 'GET / HTTP/1.1\r\nConnection: close\r\nKeep-Alive: 1\r\nKeep-Alive: 2\r\nKeep-Alive: 3\r\nKeep-Alive: 4\r\n\r\n'],
  ];
  const h = new FastHead();
  for (const [why, s] of declinedRequests) t.notOk(parseRequestHead(b(s), 0, h), `request: ${why}`);
  t.notOk(parseRequestHead(b(`GET / HTTP/1.1\r\nX-Big: ${'x'.repeat(17 * 1024)}\r\n\r\n`), 0, h), 'request: head over 16 KiB (llhttp answers 431)');

  const declinedResponses: [string, string, boolean?][] = [
    ['no framing (delimited by the close)', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nabc'],
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['chunked, even to HEAD', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', true],
    ['HEAD without Content-Length', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n', true],
    ['HTTP/1.0', 'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['1xx', 'HTTP/1.1 100 Continue\r\n\r\n'],
    ['101', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
    ['status out of range', 'HTTP/1.1 600 X\r\nContent-Length: 0\r\n\r\n'],
    ['status without a reason or its space', 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n'],
    ['two-digit status', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
    ['two Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx'],
    ['Content-Length list', 'HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx'],
    ['Connection naming a field', 'HTTP/1.1 200 OK\r\nConnection: X-A\r\nContent-Length: 0\r\n\r\n'],
    ['incomplete head', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n'],
    ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\n\n'],
    ['folded line', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n\t2\r\nContent-Length: 0\r\n\r\n'],
  ];
  for (const [why, s, head] of declinedResponses) t.notOk(parseResponseHead(b(s), 0, h, head === true), `response: ${why}`);
});

/** A small seeded PRNG (mulberry32): the fuzz is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes worth trying in a head: the ones its grammar turns on. */
const INTERESTING = [0, 9, 10, 13, 32, 34, 44, 47, 48, 49, 58, 59, 61, 63, 65, 97, 127, 128, 255];
const SNIPPETS = ['\r\n', 'Connection: close\r\n', 'Content-Length: 5\r\n', 'Transfer-Encoding: chunked\r\n', 'Host: x\r\n', 'Keep-Alive: timeout=3\r\n', 'Connection: keep-alive\r\n', ' ', ':', 'HTTP/1.0', '\r\n\r\n', 'Upgrade: h2c\r\n'];

function mutate(s: Buffer, rnd: () => number): Buffer {
  let d = Buffer.from(s);
  const n = 1 + Math.floor(rnd() * 3);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rnd() * (d.length + 1));
    const op = Math.floor(rnd() * 6);
    if (op === 0) d = Buffer.concat([d.subarray(0, at), Buffer.from([INTERESTING[Math.floor(rnd() * INTERESTING.length)]]), d.subarray(at)]);
    else if (op === 1 && at < d.length) d[at] = INTERESTING[Math.floor(rnd() * INTERESTING.length)];
    else if (op === 2 && at < d.length) d = Buffer.concat([d.subarray(0, at), d.subarray(at + 1)]);
    else if (op === 3) d = Buffer.concat([d.subarray(0, at), b(SNIPPETS[Math.floor(rnd() * SNIPPETS.length)]), d.subarray(at)]);
    else if (op === 4 && at < d.length) d[at] ^= 0x20; // case flip (and worse, for non-letters)
    else if (op === 5) d = d.subarray(0, at); // cut short
  }
  return d;
}

t.test('fuzz: whatever the fast path takes, llhttp reads the same way', async (t) => {
  const rnd = prng(0x6b756d61);
  let takenReq = 0;
  let takenRes = 0;
  const problems: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const req = mutate(b(REQUESTS[i % REQUESTS.length]), rnd);
    const h = new FastHead();
    if (parseRequestHead(req, 0, h)) takenReq++;
    for (const p of compareRequest(req)) problems.push(`request ${JSON.stringify(req.toString('latin1'))}: ${p}`);
    const res = mutate(b(RESPONSES[i % RESPONSES.length]), rnd);
    const head = i % 5 === 0;
    if (parseResponseHead(res, 0, h, head)) takenRes++;
    for (const p of compareResponse(res, head)) problems.push(`response ${JSON.stringify(res.toString('latin1'))}: ${p}`);
  }
  t.same(problems.slice(0, 10), [], `${problems.length} disagreements`);
  // Both outcomes must be exercised for the comparison to mean anything.
  t.ok(takenReq > 2000 && takenReq < 18_000, `requests taken: ${takenReq} of 20000`);
  t.ok(takenRes > 2000 && takenRes < 18_000, `responses taken: ${takenRes} of 20000`);
});
