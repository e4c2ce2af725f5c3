/**
 * The lean HTTP/1.1 forwarder: the http_connection_manager's HTTP/1.1 path on raw
 * sockets. llhttp (Node's own parser binding) parses the downstream requests and the
 * upstream responses; each head is written as one string and a body is streamed chunk by
 * chunk (Content-Length kept, anything else re-chunked), with backpressure both ways.
 * Upstream connections come from a keep-alive pool per endpoint (clusters/h1-pool.ts).
 *
 * It behaves like http-proxy.ts (same routes, stats, retries, outlier reports, local
 * answers) without node:http's per-request objects. What it does not handle, it hands to
 * the node:http server of the chain with the connection, the request's head re-serialised
 * in front of the bytes still unread: Upgrade and CONNECT, `Expect: 100-continue`, and
 * routes to HTTP/2 clusters (the h1<->h2 bridge). From then on that connection is node:http's.
 */
import type http from 'node:http';
import type net from 'node:net';
import type { RouteConfigModel, RouteModel } from '../config/model';
import type { ClusterRuntime } from '../clusters/cluster-manager';
import type { H1Conn, H1ConnUser, H1Pool } from '../clusters/h1-pool';
import { DEFAULT_ROUTE_TIMEOUT_MS, downstreamIdleMs, type HttpProxyDeps } from './http-proxy';
import { chooseCluster, matchRoute } from './route-match';
import { HTTPParser, MAX_HEADER_SIZE, METHODS, PROCEED, SKIP_BODY, STOP_AFTER_HEAD, type Parser } from './llhttp';
import { localAnswer, requestHead, responseHead, scanHead } from './h1-head';
import { FastHead, fieldList, keptHead, parseRequestHead } from './h1-fast';
import { OutBuffer } from './out-buffer';


/** Pipelined requests held (with their bodies) behind the one in progress before reading pauses. */
const MAX_QUEUED = 16;
/** Request body bytes held while the upstream connection is not ready before reading pauses. */
const MAX_HELD_BYTES = 256 * 1024;

/** Methods whose request, when it carries no body, may be sent again (RFC 9110 §9.2.2 idempotent, minus those usually with a body). */
const RETRIABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'TRACE']);

/** How often idle downstream connections are looked for. */
const SWEEP_MS = 5_000;

/**
 * A coarse clock for downstream idleness, in SWEEP_MS units: a read stamps its connection
 * with it instead of refreshing a socket timer (socket.setTimeout re-arms a timer on every
 * read and write). Every forwarder's sweep and every accept sets it from the monotonic
 * clock, so it is never more than SWEEP_MS behind while any connection is open. (It used
 * to be a counter each forwarder's sweep advanced: with N chains holding connections it
 * ran N times too fast, and idle connections were closed N times too early.)
 */
let sweepTick = coarseNow();

function coarseNow(): number {
  return Math.floor(performance.now() / SWEEP_MS);
}

/** The lean forwarder of one filter chain: its open connections and the node:http server it falls back to. */
export class H1Forwarder {
  /** Connections carried by the forwarder (not those handed to node:http). */
  readonly conns = new Set<DownstreamConn>();
  private sweeper?: NodeJS.Timeout;

  constructor(
    readonly d: HttpProxyDeps,
    readonly fallback: http.Server,
  ) {}

  /** Takes an HTTP/1 connection (after TLS and protocol sniffing). */
  accept(sock: net.Socket): void {
    sweepTick = coarseNow();
    this.conns.add(new DownstreamConn(this, sock));
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
    }
  }

  /** Closes connections silent for the chain's idle limit (downstreamIdleMs) with no request in progress (to within SWEEP_MS). */
  private sweep(): void {
    sweepTick = coarseNow();
    const ms = downstreamIdleMs(this.d.model);
    const limit = ms === 0 ? Infinity : Math.ceil(ms / SWEEP_MS);
    for (const c of this.conns) if (c.idle() && sweepTick - c.lastActive >= limit) c.sock.destroy();
    if (this.conns.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** Closes connections with no request in progress (drain). */
  closeIdle(): void {
    for (const c of this.conns) if (c.idle()) c.sock.destroy();
    this.fallback.closeIdleConnections();
  }
}

/** One request and its response. */
class Exchange implements H1ConnUser {
  /** Request bytes for the upstream not yet written (head, body chunks, the chunked terminator). */
  readonly reqOut = new OutBuffer();
  /** The downstream request was read to its end. */
  reqDone = false;
  /** The response ended (or a local answer was made): the exchange is over once reqDone too. */
  respDone = false;
  /** Request body chunks are re-chunked for the upstream. */
  readonly reqChunked: boolean;
  readonly hasBody: boolean;
  cluster?: ClusterRuntime;
  timeoutMs = 0;
  /** A local answer decided at routing time (404, 503 for an unknown cluster). */
  local?: { status: number; body: string };
  conn?: H1Conn;
  pool?: H1Pool;
  attempt = 0;
  /** The response head was produced: no local answer may follow. */
  headSent = false;
  /** A 1xx interim response is being skipped. */
  interim = false;
  respChunked = false;
  /** The downstream connection closes after this response. */
  closeAfter = false;
  upKeepAlive = false;
  /** The rest of the request body is dropped (the response was answered locally). */
  discard = false;

  constructor(
    private readonly dc: DownstreamConn,
    readonly method: string,
    readonly url: string,
    readonly minor: number,
    readonly keepAlive: boolean,
    /** The head for the upstream: serialised, or the fast path's bytes. */
    readonly head: string | Buffer,
    info: { contentLength: number; transferEncoding: boolean },
  ) {
    this.hasBody = info.transferEncoding || info.contentLength > 0;
    this.reqChunked = info.transferEncoding;
    this.reqOut.push(head);
  }

  get headRequest(): boolean {
    return this.method === 'HEAD';
  }

  onResponseHead(conn: H1Conn, raw: string[], status: number, reason: string, keepAlive: boolean): number {
    if (status < 200) {
      // 1xx interim responses are not forwarded (as node:http's ClientRequest did not).
      this.interim = true;
      return PROCEED;
    }
    const info = scanHead(raw);
    this.responseStarts(conn, status, keepAlive, info.keepAliveTimeoutS);
    const noBody = this.method === 'HEAD' || status === 204 || status === 304;
    const dc = this.dc;
    let close = this.closeAfter;
    let chunked = false;
    if (!noBody && info.contentLength < 0) {
      // Not framed by Content-Length: re-chunked for an HTTP/1.1 caller, delimited by the close for 1.0.
      if (this.minor >= 1) chunked = true;
      else close = true;
    }
    this.respChunked = chunked;
    this.closeAfter = close;
    dc.out.push(responseHead(status, reason, info.fields, chunked, close ? 'close' : this.minor === 0 ? 'keep-alive' : ''));
    return this.method === 'HEAD' ? SKIP_BODY : PROCEED;
  }

  /** What every final response head does first: endpoint health, the app's keep-alive hint, whether the caller's connection closes after it. */
  private responseStarts(conn: H1Conn, status: number, keepAlive: boolean, keepAliveTimeoutS: number): void {
    this.upKeepAlive = keepAlive;
    this.cluster!.observeEndpoint(conn.pool.ep, status);
    if (keepAliveTimeoutS >= 0) {
      conn.idleLimitMs = Math.min(conn.idleLimitMs, keepAliveTimeoutS * 1000 - 1000);
    }
    this.closeAfter = !this.keepAlive || this.dc.draining();
    this.headSent = true;
  }

  /** A head the fast path parsed (HTTP/1.1, framed by Content-Length or bodyless): its bytes go on as they came, less the hop-by-hop lines. */
  onFastResponseHead(conn: H1Conn, d: Buffer, h: FastHead): void {
    this.responseStarts(conn, h.status, !h.close, h.keepAliveTimeoutS);
    // The Connection value the caller is told, as responseHead() writes it ('' for none).
    const connection = this.closeAfter ? 'close' : this.minor === 0 ? 'keep-alive' : '';
    this.dc.out.push(keptHead(d, 0, h, connection !== ''));
    if (connection) this.dc.out.push(`connection: ${connection}\r\n\r\n`);
  }

  onResponseBody(chunk: Buffer): void {
    const out = this.dc.out;
    if (this.respChunked) {
      out.push(chunk.length.toString(16) + '\r\n');
      out.push(chunk);
      out.push('\r\n');
    } else out.push(chunk);
  }

  onResponseEnd(conn: H1Conn): void {
    if (this.interim) {
      this.interim = false;
      return;
    }
    if (this.respChunked) this.dc.out.push('0\r\n\r\n');
    this.conn = undefined;
    // A connection whose request was not sent whole is out of step: never reuse it.
    if (this.upKeepAlive && this.reqDone && this.reqOut.bytes === 0) conn.pool.release(conn, Date.now());
    else {
      conn.user = undefined;
      conn.destroy();
      // The rest of the request body has nowhere to go.
      this.discard = true;
      this.reqOut.clear();
    }
    this.finishResponse();
  }

  afterUpstreamData(): void {
    this.dc.flushOut();
  }

  onConnClosed(conn: H1Conn, why: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    if (this.respDone) return;
    if (this.headSent) {
      // Mid-body: the caller's response cannot be completed.
      this.dc.sock.destroy();
      return;
    }
    // A pooled connection the app closed just as we reused it resets before any response
    // byte; the app did not answer, so a request without a body is sent once more on
    // another connection (Envoy retries such resets; node:http's reusedSocket case).
    if (conn.reused && this.attempt === 0 && !this.hasBody && RETRIABLE_METHODS.has(this.method)) {
      this.attempt++;
      this.cluster!.stats.upstream_rq_retry++;
      this.dc.fwd.d.log.debug({ cluster: this.cluster!.model.name, err: why }, 'pooled upstream connection reset before headers; retrying once');
      this.reqOut.clear();
      this.reqOut.push(this.head);
      this.dc.dispatch(this);
      return;
    }
    this.dc.fwd.d.log.debug({ cluster: this.cluster!.model.name, err: why }, 'http upstream failed');
    this.cluster!.observeEndpoint(conn.pool.ep, 503);
    this.answer(503, `upstream connect error or disconnect/reset before headers: ${why}\n`);
  }

  onUpstreamDrain(): void {
    this.dc.resumeFor(PAUSE_UPSTREAM);
  }

  /** A local answer, unless the response already started. */
  answer(status: number, body: string): void {
    if (this.respDone) return;
    if (this.headSent) {
      this.dc.sock.destroy();
      return;
    }
    this.headSent = true;
    this.discard = true;
    this.reqOut.clear();
    const close = !this.keepAlive || this.dc.draining() || !this.reqDone;
    this.closeAfter = close;
    this.dc.out.push(Buffer.from(localAnswer(status, body, close)));
    this.finishResponse();
  }

  private finishResponse(): void {
    this.respDone = true;
    this.dc.responseDone(this);
  }

  /** The route timeout: no answer yet is a 504, a response under way is cut. */
  onTimeout(): void {
    const c = this.conn;
    this.conn = undefined;
    if (c) {
      c.user = undefined;
      c.destroy();
    }
    this.answer(504, 'upstream request timeout\n');
  }

  /** The downstream went away: the upstream request is aborted. */
  abort(): void {
    this.respDone = true;
    const c = this.conn;
    this.conn = undefined;
    if (c) {
      c.user = undefined;
      c.destroy();
    }
  }
}

/** The fast path's scratch head (parses are synchronous). */
const fastHead = new FastHead();
/** Header matchers of a route table that read request fields (not :method, :path or :authority): the fast path then lists the fields for them. */
const readsFields = new WeakMap<RouteConfigModel, boolean>();

function routesReadFields(rc: RouteConfigModel): boolean {
  let v = readsFields.get(rc);
  if (v === undefined) {
    v = rc.virtualHosts.some((vh) => vh.routes.some((r) => r.headers.some((h) => !h.name.startsWith(':'))));
    readsFields.set(rc, v);
  }
  return v;
}

const NO_FIELDS = Object.freeze({}) as Record<string, string>;
const NO_BODY = Object.freeze({ contentLength: 0, transferEncoding: false });

/** Why the downstream socket is paused (a bit each; it resumes when none is left). */
const PAUSE_UPSTREAM = 1;
const PAUSE_HELD = 2;
const PAUSE_QUEUE = 4;
const PAUSE_STOPPED = 8;

/** One downstream connection. */
class DownstreamConn {
  private readonly parser: Parser = new HTTPParser();
  /** Response bytes for the caller not yet written. */
  readonly out = new OutBuffer();
  /** The exchange whose response is being produced. */
  private cur?: Exchange;
  /** Pipelined exchanges behind it, in order. */
  private readonly queue: Exchange[] = [];
  /** The exchange whose request body is being parsed. */
  private parsing?: Exchange;
  private partHeaders: string[] = [];
  private partUrl = '';
  private paused = 0;
  /** llhttp is inside a message (the fast path may only start at a message boundary). */
  private midMessage = false;
  /** Body bytes still due of a request the fast path took. */
  private bodyLeft = 0;
  /** Inside a data event: writes wait for its end. */
  private executing = false;
  private gone = false;
  private readEnded = false;
  /** Set when the connection goes to node:http once the exchanges before it are done: the bytes to give it. */
  private handoff?: Buffer;
  private pendingHandoffHead?: string;
  /** A malformed request: answered with this status once the exchanges before it are done. */
  private failStatus = 0;
  /** The sweep tick of the last read. */
  lastActive = sweepTick;
  /**
   * The route timeout, one timer per connection re-armed (refresh()) for each exchange
   * instead of a new timer per request; `timed` is the exchange it was armed for.
   */
  private timer?: NodeJS.Timeout;
  private timerMs = 0;
  private timed?: Exchange;
  private readonly onDataBound = (d: Buffer) => this.onData(d);

  constructor(
    readonly fwd: H1Forwarder,
    readonly sock: net.Socket,
  ) {
    const p = this.parser;
    p.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_SIZE, HTTPParser.kLenientNone);
    p[HTTPParser.kOnHeaders] = (h: string[], url: string) => {
      for (const x of h) this.partHeaders.push(x);
      this.partUrl += url;
    };
    p[HTTPParser.kOnHeadersComplete] = (maj: number, min: number, h: string[] | undefined, method: number, url: string | undefined, _s: unknown, _r: unknown, upgrade: boolean, keepAlive: boolean) =>
      this.onRequestHead(maj, min, h, method, url, upgrade, keepAlive);
    p[HTTPParser.kOnBody] = (b: Buffer) => this.onRequestBody(b);
    p[HTTPParser.kOnMessageBegin] = () => {
      this.midMessage = true;
    };
    p[HTTPParser.kOnMessageComplete] = () => {
      this.midMessage = false;
      this.onRequestEnd();
    };
    sock.on('data', this.onDataBound);
    sock.on('end', this.onEndBound);
    sock.on('close', this.onCloseBound);
    sock.on('drain', this.onDrainBound);
  }

  private readonly onEndBound = () => this.onEnd();
  private readonly onCloseBound = () => this.onClose();
  private readonly onDrainBound = () => this.onDrain();
  private readonly onTimerBound = () => {
    const ex = this.timed;
    if (ex && ex === this.cur && !ex.respDone) ex.onTimeout();
  };

  /** No exchange in progress. */
  idle(): boolean {
    return this.cur === undefined && this.parsing === undefined;
  }

  /** True while the chain drains: responses close their connection. */
  draining(): boolean {
    return this.fwd.d.draining?.() === true;
  }

  private onData(d: Buffer): void {
    this.lastActive = sweepTick;
    this.executing = true;
    let off = this.bodyLeft > 0 ? this.fastBody(d, 0) : 0;
    if (!this.midMessage && this.bodyLeft === 0) off = this.fastRequests(d, off);
    // What the fast path left (from the start of a message, or inside one llhttp began) is llhttp's.
    if (off < d.length) {
      const rest = off > 0 ? d.subarray(off) : d;
      const r = this.parser.execute(rest);
      if (typeof r !== 'number') {
        // A broken request body (bad chunk framing): the request was already on its way
        // upstream and cannot be completed; the connection goes (node:http does the same).
        if (this.parsing) {
          this.executing = false;
          return void this.sock.destroy();
        }
        // Malformed: 400 (431 for an oversized head) after the responses before it, then close.
        this.failStatus = r.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
        this.stopReading();
        this.parsing = undefined;
      } else if (this.pendingHandoffHead !== undefined) {
        this.handoff = Buffer.concat([Buffer.from(this.pendingHandoffHead, 'latin1'), rest.subarray(r)]);
        this.pendingHandoffHead = undefined;
        this.stopReading();
      }
    }
    this.executing = false;
    this.flushAll();
    if (!this.cur) this.next();
  }

  /**
   * Starts the exchanges of the requests from `off` in `d` that the fast path takes
   * (h1-fast.ts), with their Content-Length bodies; returns where it stopped (llhttp takes
   * the rest) or, inside a body, the end of `d`.
   */
  private fastRequests(d: Buffer, off: number): number {
    const rc = this.fwd.d.routes();
    const needFields = rc !== undefined && routesReadFields(rc);
    const h = fastHead;
    while (off < d.length && (this.paused & PAUSE_STOPPED) === 0 && parseRequestHead(d, off, h)) {
      let route: RouteModel | undefined;
      if (rc) {
        const q = h.url.indexOf('?');
        const rawHeaders = needFields ? fieldList(d, off, h) : undefined;
        route = matchRoute(rc, { method: h.method, path: q < 0 ? h.url : h.url.slice(0, q), host: h.host, headers: NO_FIELDS, rawHeaders });
        // HTTP/2 clusters are bridged by node:http: llhttp hands the request over.
        if (route && this.routesToH2(route)) break;
      }
      const end = h.end;
      const cl = h.contentLength;
      this.startExchange(h.method, h.url, 1, !h.close, keptHead(d, off, h, false), cl > 0 ? { contentLength: cl, transferEncoding: false } : NO_BODY, route);
      off = end;
      if (cl > 0) {
        this.bodyLeft = cl;
        off = this.fastBody(d, off);
        if (this.bodyLeft > 0) return d.length;
      }
    }
    // A response that closes the connection was decided: what follows is not read.
    return (this.paused & PAUSE_STOPPED) !== 0 ? d.length : off;
  }

  /** Passes on the body bytes of a fast-path request from `off` (the request ends when they are all in); returns where they end. */
  private fastBody(d: Buffer, off: number): number {
    const n = Math.min(this.bodyLeft, d.length - off);
    if (n > 0) {
      this.onRequestBody(off === 0 && n === d.length ? d : d.subarray(off, off + n));
      this.bodyLeft -= n;
    }
    if (this.bodyLeft === 0) this.onRequestEnd();
    return off + n;
  }

  /** Stops parsing: no further data event reaches the parser. */
  private stopReading(): void {
    this.sock.removeListener('data', this.onDataBound);
    this.pauseFor(PAUSE_STOPPED);
  }

  private onRequestHead(maj: number, minor: number, h: string[] | undefined, methodIndex: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    if (h === undefined) {
      h = this.partHeaders;
      this.partHeaders = [];
    }
    if (!url) {
      url = this.partUrl;
      this.partUrl = '';
    }
    const method = METHODS[methodIndex];
    const info = scanHead(h);
    const d = this.fwd.d;
    const rc = d.routes();
    let route: RouteModel | undefined;
    if (!upgrade && !info.expectContinue && maj === 1) {
      const q = url.indexOf('?');
      route = rc && matchRoute(rc, { method, path: q < 0 ? url : url.slice(0, q), host: info.host, headers: NO_FIELDS, rawHeaders: h });
      if (!route || !this.routesToH2(route)) return this.startExchange(method, url, minor, keepAlive, requestHead(method, url, info.fields, info.transferEncoding), info, route);
    }
    // Not ours: node:http takes the connection from this request on.
    let head = `${method} ${url} HTTP/${maj}.${minor}\r\n`;
    for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
    this.pendingHandoffHead = head + '\r\n';
    return STOP_AFTER_HEAD;
  }

  /** True when the route may send the request to an HTTP/2 cluster (the node:http path bridges those). */
  private routesToH2(route: RouteModel): boolean {
    const clusters = this.fwd.d.clusters;
    const t = route.target;
    if (t.kind === 'single') return clusters.get(t.cluster)?.model.http2 === true;
    for (const c of t.clusters) if (clusters.get(c.name)?.model.http2) return true;
    return false;
  }

  private startExchange(method: string, url: string, minor: number, keepAlive: boolean, head: string | Buffer, info: { contentLength: number; transferEncoding: boolean }, route: RouteModel | undefined): number {
    const d = this.fwd.d;
    d.stats.downstream_rq_total++;
    const ex = new Exchange(this, method, url, minor, keepAlive, head, info);
    if (!route) {
      d.stats.route_not_found++;
      ex.local = { status: 404, body: 'no route matched\n' };
    } else {
      const name = chooseCluster(route.target, Math.random());
      const cluster = d.clusters.get(name);
      if (!cluster) ex.local = { status: 503, body: `no healthy upstream: cluster "${name}" not configured\n` };
      else {
        ex.cluster = cluster;
        ex.timeoutMs = route.timeoutMs ?? DEFAULT_ROUTE_TIMEOUT_MS;
      }
    }
    if (!ex.hasBody) ex.reqDone = true;
    else this.parsing = ex;
    if (!this.cur) {
      this.cur = ex;
      this.start(ex);
    } else {
      this.queue.push(ex);
      if (this.queue.length >= MAX_QUEUED) this.pauseFor(PAUSE_QUEUE);
    }
    return PROCEED;
  }

  private onRequestBody(b: Buffer): void {
    const ex = this.parsing;
    if (!ex || ex.discard) return;
    if (ex.reqChunked) {
      ex.reqOut.push(b.length.toString(16) + '\r\n');
      ex.reqOut.push(b);
      ex.reqOut.push('\r\n');
    } else ex.reqOut.push(b);
    if (!ex.conn && ex.reqOut.bytes > MAX_HELD_BYTES) this.pauseFor(PAUSE_HELD);
  }

  private onRequestEnd(): void {
    const ex = this.parsing;
    if (!ex) return;
    this.parsing = undefined;
    ex.reqDone = true;
    if (ex.reqChunked && !ex.discard) ex.reqOut.push('0\r\n\r\n');
    if (ex.respDone && ex === this.cur) {
      // Answered before the request was read whole (a local answer, an early response).
      this.flushAll();
      this.next();
    }
  }

  private start(ex: Exchange): void {
    if (ex.local) return ex.answer(ex.local.status, ex.local.body);
    if (ex.timeoutMs > 0) this.armTimer(ex);
    this.dispatch(ex);
  }

  private armTimer(ex: Exchange): void {
    this.timed = ex;
    if (this.timer && this.timerMs === ex.timeoutMs) {
      this.timer.refresh();
      return;
    }
    clearTimeout(this.timer);
    this.timerMs = ex.timeoutMs;
    this.timer = setTimeout(this.onTimerBound, ex.timeoutMs);
    this.timer.unref();
  }

  /** Sends the exchange's request on a pooled or new upstream connection. */
  dispatch(ex: Exchange): void {
    const rt = ex.cluster!;
    const pool = rt.h1Pick();
    if (!pool) return ex.answer(503, `no healthy upstream: cluster "${rt.model.name}" has no endpoint\n`);
    rt.stats.upstream_rq_total++;
    ex.pool = pool;
    const conn = pool.take(Date.now());
    if (conn) return this.attach(ex, conn);
    rt.h1Connect(pool, (err, c) => {
      if (ex.respDone || this.gone) {
        if (c) c.pool.release(c, Date.now());
        return;
      }
      if (err || !c) {
        rt.observeEndpoint(pool.ep, 503);
        this.fwd.d.log.debug({ cluster: rt.model.name, err: err?.message }, 'http upstream failed');
        ex.answer(503, `upstream connect error or disconnect/reset before headers: ${err?.message ?? 'no connection'}\n`);
        this.flushAll();
        return;
      }
      this.attach(ex, c);
    });
  }

  private attach(ex: Exchange, conn: H1Conn): void {
    conn.user = ex;
    ex.conn = conn;
    if (!this.executing) this.flushAll();
  }

  /** Writes what is pending in both directions, pausing the side that produced it on backpressure. */
  flushAll(): void {
    const ex = this.cur;
    if (ex?.conn && ex.reqOut.bytes > 0) {
      if (!ex.reqOut.flush(ex.conn.sock)) this.pauseFor(PAUSE_UPSTREAM);
      this.resumeFor(PAUSE_HELD);
    }
    this.flushOut();
  }

  /** Writes pending response bytes; a full downstream buffer pauses the upstream connection. */
  flushOut(): void {
    if (this.out.bytes === 0 || this.gone) return;
    if (!this.out.flush(this.sock)) this.cur?.conn?.sock.pause();
  }

  private onDrain(): void {
    this.cur?.conn?.sock.resume();
  }

  pauseFor(bit: number): void {
    if (this.paused === 0) this.sock.pause();
    this.paused |= bit;
  }

  resumeFor(bits: number): void {
    if ((this.paused & bits) === 0) return;
    this.paused &= ~bits;
    if (this.paused === 0) this.sock.resume();
  }

  /** The response of an exchange ended (relayed or answered locally). */
  responseDone(ex: Exchange): void {
    if (ex !== this.cur) return;
    if (ex.closeAfter) {
      this.flushOut();
      this.stopReading();
      this.cur = undefined;
      this.queue.length = 0;
      this.parsing = undefined;
      this.sock.end();
      return;
    }
    if (!this.executing) this.flushOut();
    if (ex.reqDone) this.next();
  }

  /** Starts the next queued exchange, or whatever waits for the connection to be idle. */
  private next(): void {
    if (this.cur && !(this.cur.respDone && this.cur.reqDone)) return;
    this.cur = this.queue.shift();
    // Waits that belonged to the exchange that ended.
    this.resumeFor(PAUSE_UPSTREAM | PAUSE_HELD);
    if (this.cur) {
      this.resumeFor(PAUSE_QUEUE);
      return this.start(this.cur);
    }
    if (this.parsing || this.gone) return;
    if (this.failStatus) {
      const status = this.failStatus;
      this.failStatus = 0;
      this.sock.end(localAnswer(status, '', true));
      return;
    }
    if (this.handoff) return this.handOver();
    if (this.readEnded) this.sock.end();
  }

  /** Gives the connection, with the unread bytes (from the head of the request not handled here), to node:http. */
  private handOver(): void {
    const data = this.handoff!;
    this.handoff = undefined;
    const s = this.sock;
    s.removeListener('end', this.onEndBound);
    s.removeListener('close', this.onCloseBound);
    s.removeListener('drain', this.onDrainBound);
    clearTimeout(this.timer);
    this.fwd.conns.delete(this);
    this.gone = true;
    s.unshift(data);
    this.fwd.fallback.emit('connection', s);
    s.resume();
  }

  private onEnd(): void {
    this.readEnded = true;
    this.parser.finish();
    if (this.idle() && !this.handoff) this.sock.end();
  }

  private onClose(): void {
    this.gone = true;
    clearTimeout(this.timer);
    this.fwd.conns.delete(this);
    this.cur?.abort();
    for (const ex of this.queue) ex.abort();
    this.cur = undefined;
    this.queue.length = 0;
    this.parsing = undefined;
  }
}
