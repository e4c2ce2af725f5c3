/**
 * HTTP/2 in the HTTP connection manager (gRPC): an HTTP/2 server for downstream
 * connections that start with the preface, and forwarding of requests to clusters
 * whose HttpProtocolOptions ask for HTTP/2 upstream, with trailers (grpc-status)
 * passed through. HTTP/1 downstream to an HTTP/2 cluster and the reverse are bridged.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { ClusterRuntime } from '../clusters/cluster-manager';
import { selectUpstream, type HttpProxyDeps } from './http-proxy';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_FLAG_END_STREAM } = http2.constants;
// RFC 9113 §8.2.2: connection-specific fields must not appear in HTTP/2.
const NOT_IN_H2 = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings', 'te']);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function h2Respond(stream: http2.ServerHttp2Stream, status: number, body: string): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) return void stream.close(NGHTTP2_INTERNAL_ERROR);
  stream.respond({ ':status': status, 'content-type': 'text/plain' });
  stream.end(body);
}

/** An HTTP/2 server (never listening) proxying the streams of connections emitted into it. */
export function createHttp2ProxyServer(d: HttpProxyDeps): http2.Http2Server {
  const server = http2.createServer({ settings: { enablePush: false } });
  server.on('stream', (stream, headers) => handleStream(d, stream, headers));
  server.on('sessionError', () => undefined);
  return server;
}

function handleStream(d: HttpProxyDeps, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  stream.on('error', () => undefined);
  const choice = selectUpstream(d, String(headers[':method'] ?? 'GET'), String(headers[':path'] ?? '/'), String(headers[':authority'] ?? ''), headers);
  if ('status' in choice) return h2Respond(stream, choice.status, choice.body);
  const { cluster, timeoutMs } = choice;
  cluster.stats.upstream_rq_total++;
  const timer = timeoutMs > 0 ? setTimeout(() => h2Respond(stream, 504, 'upstream request timeout\n'), timeoutMs) : undefined;
  stream.on('close', () => clearTimeout(timer));
  if (!cluster.model.http2) return h2ToH1(d, stream, headers, cluster);
  cluster.h2Session().then(
    (session) => {
      if (stream.destroyed) return;
      const out: http2.OutgoingHttpHeaders = {};
      for (const k in headers) if (!NOT_IN_H2.has(k)) out[k] = headers[k];
      let up: http2.ClientHttp2Stream;
      try {
        up = session.request(out);
      } catch (err) {
        return h2Respond(stream, 503, `upstream connect error: ${(err as Error).message}\n`);
      }
      let trailers: http2.IncomingHttpHeaders | undefined;
      up.on('response', (h, flags) => {
        cluster.observe(session, Number(h[':status'] ?? 502));
        const resp: http2.OutgoingHttpHeaders = {};
        for (const k in h) if (!NOT_IN_H2.has(k)) resp[k] = h[k];
        if (flags & NGHTTP2_FLAG_END_STREAM) {
          // Trailers-only response (gRPC errors): headers end the stream.
          stream.respond(resp, { endStream: true });
          return;
        }
        stream.respond(resp, { waitForTrailers: true });
        up.pipe(stream);
      });
      up.on('trailers', (t) => (trailers = t));
      stream.on('wantTrailers', () => {
        const t: http2.OutgoingHttpHeaders = {};
        for (const k in trailers ?? {}) if (!k.startsWith(':')) t[k] = trailers![k];
        stream.sendTrailers(t);
      });
      up.on('error', (err) => {
        cluster.observe(session, 503);
        h2Respond(stream, 503, `upstream reset: ${err.message}\n`);
      });
      stream.on('close', () => {
        if (!up.closed) up.close(NGHTTP2_CANCEL);
      });
      stream.pipe(up);
    },
    (err: Error) => h2Respond(stream, 503, `upstream connect error: ${err.message}\n`),
  );
}

/** HTTP/2 downstream, HTTP/1.1 cluster. */
function h2ToH1(d: HttpProxyDeps, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, cluster: ClusterRuntime): void {
  const agent = cluster.requestAgent();
  if (!agent) return h2Respond(stream, 503, `no healthy upstream: cluster "${cluster.model.name}" has no endpoint\n`);
  const out: http.OutgoingHttpHeaders = {};
  for (const k in headers) if (!k.startsWith(':')) out[k] = headers[k];
  out.host = String(headers[':authority'] ?? '');
  const up = http.request({ agent, host: cluster.model.name, method: String(headers[':method']), path: String(headers[':path']), headers: out, setHost: false });
  up.on('response', (ur) => {
    cluster.observe(agent, ur.statusCode ?? 502);
    const resp: http2.OutgoingHttpHeaders = { ':status': ur.statusCode ?? 502 };
    for (const k in ur.headers) if (!HOP_BY_HOP.has(k)) resp[k] = ur.headers[k];
    stream.respond(resp);
    ur.pipe(stream);
  });
  up.on('error', (err) => {
    d.log.debug({ err: err.message }, 'http upstream failed');
    cluster.observe(agent, 503);
    h2Respond(stream, 503, `upstream connect error: ${err.message}\n`);
  });
  stream.on('close', () => up.destroy());
  stream.pipe(up);
}

/** HTTP/1.1 downstream, HTTP/2 cluster. */
export function h1ToH2(d: HttpProxyDeps, req: http.IncomingMessage, res: http.ServerResponse, cluster: ClusterRuntime, timeoutMs: number, reply: (status: number, body: string) => void): void {
  let timer: NodeJS.Timeout | undefined;
  cluster.h2Session().then(
    (session) => {
      if (res.destroyed) return;
      const out: http2.OutgoingHttpHeaders = { ':method': req.method ?? 'GET', ':path': req.url ?? '/', ':authority': req.headers.host ?? cluster.model.name, ':scheme': 'http' };
      for (const k in req.headers) if (!NOT_IN_H2.has(k)) out[k] = req.headers[k];
      let up: http2.ClientHttp2Stream;
      try {
        up = session.request(out);
      } catch (err) {
        return reply(503, `upstream connect error: ${(err as Error).message}\n`);
      }
      if (timeoutMs > 0) timer = setTimeout(() => (up.close(NGHTTP2_CANCEL), reply(504, 'upstream request timeout\n')), timeoutMs);
      up.on('response', (h) => {
        cluster.observe(session, Number(h[':status'] ?? 502));
        const headers: http.OutgoingHttpHeaders = {};
        for (const k in h) if (!k.startsWith(':')) headers[k] = h[k];
        res.writeHead(Number(h[':status'] ?? 502), headers);
        up.pipe(res);
      });
      up.on('end', () => clearTimeout(timer));
      up.on('error', (err) => {
        clearTimeout(timer);
        cluster.observe(session, 503);
        reply(503, `upstream reset: ${err.message}\n`);
      });
      res.on('close', () => {
        clearTimeout(timer);
        if (!up.closed) up.close(NGHTTP2_CANCEL);
      });
      req.pipe(up);
    },
    (err: Error) => reply(503, `upstream connect error: ${err.message}\n`),
  );
  void d;
}
