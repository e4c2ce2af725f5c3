/**
 * The lean forwarder's pure head handling (http/h1-head.ts): hop-by-hop fields and those
 * named by Connection dropped whatever their spelling, everything else kept as it came,
 * framing and Keep-Alive hints read, heads serialised byte for byte; and route matching
 * on a raw field list the way it matches node:http's joined `headers`.
 */
import t from 'tap';
import { localAnswer, rawFieldValue, requestHead, responseHead, scanHead } from '../../../agent/engine/embedded/http/h1-head';
import { matchRoute } from '../../../agent/engine/embedded/http/route-match';
import type { RouteConfigModel } from '../../../agent/engine/embedded/config/model';

t.test('scanHead keeps end-to-end fields as they came and drops hop-by-hop ones', async (t) => {
  const raw = ['Host', 'a.b', 'X-Multi', '1', 'Connection', 'Keep-Alive, X-Private', 'x-multi', '2', 'X-PRIVATE', 's', 'Keep-Alive', 'timeout=7, max=5', 'TE', 'trailers', 'Content-Length', '12', 'Proxy-Connection', 'x'];
  const h = scanHead(raw);
  t.same(h.fields, ['Host', 'a.b', 'X-Multi', '1', 'x-multi', '2', 'Content-Length', '12']);
  t.same({ host: h.host, cl: h.contentLength, te: h.transferEncoding, ka: h.keepAliveTimeoutS, expect: h.expectContinue }, { host: 'a.b', cl: 12, te: false, ka: 7, expect: false });
});

t.test('scanHead returns the input list itself when nothing is dropped', async (t) => {
  const raw = ['host', 'x', 'accept', '*/*', 'User-Agent', 'wrk'];
  t.equal(scanHead(raw).fields, raw);
});

t.test('scanHead framing: Transfer-Encoding wins over Content-Length; Expect', async (t) => {
  const h = scanHead(['Transfer-Encoding', 'chunked', 'content-length', '5', 'Expect', '100-Continue']);
  t.same({ cl: h.contentLength, te: h.transferEncoding, expect: h.expectContinue, fields: h.fields }, { cl: -1, te: true, expect: true, fields: ['content-length', '5', 'Expect', '100-Continue'] });
  t.equal(scanHead([]).contentLength, -1, 'no framing field');
});

t.test('heads serialise byte for byte', async (t) => {
  t.equal(requestHead('GET', '/p?q=1', ['Host', 'h', 'x-a', '1'], false), 'GET /p?q=1 HTTP/1.1\r\nHost: h\r\nx-a: 1\r\n\r\n');
  t.equal(requestHead('POST', '/', ['Host', 'h'], true), 'POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\n\r\n');
  t.equal(responseHead(200, 'OK', ['Set-Cookie', 'a', 'Set-Cookie', 'b'], true, 'close'), 'HTTP/1.1 200 OK\r\nSet-Cookie: a\r\nSet-Cookie: b\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n');
  t.equal(responseHead(304, 'Not Modified', [], false, ''), 'HTTP/1.1 304 Not Modified\r\n\r\n');
  t.equal(localAnswer(404, 'no route matched\n', false), 'HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 17\r\n\r\nno route matched\n');
});

t.test('route header matchers read a raw field list like node:http headers', async (t) => {
  t.equal(rawFieldValue(['X-Version', 'v2', 'x-version', 'v3'], 'x-version'), 'v2, v3', 'repeated fields joined with ", " as node:http does');
  t.equal(rawFieldValue(['a', '1'], 'x-version'), undefined);
  const rc: RouteConfigModel = {
    name: 'r',
    virtualHosts: [
      {
        name: 'vh',
        domains: ['*'],
        routes: [
          { prefix: '/', caseSensitive: true, headers: [{ name: 'x-version', match: { kind: 'exact', value: 'v2', ignoreCase: false }, invert: false }], target: { kind: 'single', cluster: 'v2' } } as any,
          { prefix: '/', caseSensitive: true, headers: [], target: { kind: 'single', cluster: 'v1' } } as any,
        ],
      },
    ],
  };
  const pick = (raw: string[]) => (matchRoute(rc, { method: 'GET', path: '/', host: 'x', headers: {}, rawHeaders: raw })?.target as any)?.cluster;
  t.equal(pick(['X-Version', 'v2']), 'v2');
  t.equal(pick(['x-version', 'v1']), 'v1');
  t.equal(pick([]), 'v1');
});
