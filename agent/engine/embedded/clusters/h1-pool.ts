/**
 * Keep-alive HTTP/1.1 upstream connections of one endpoint for the lean forwarder: each
 * connection owns one llhttp response parser and hands what it parses to the exchange
 * that holds it. Idle connections wait LIFO (the warmest first), leave the pool the
 * moment their peer closes them, and are never reused past their idle limit
 * (UPSTREAM_IDLE_TIMEOUT_MS, or the app's `Keep-Alive: timeout=N` minus 1 s).
 */
import type net from 'node:net';
import { HTTPParser, MAX_HEADER_SIZE, PROCEED, type Parser } from '../http/llhttp';
import { FastHead, parseResponseHead } from '../http/h1-fast';
import type { EndpointState } from './load-balancer';

/** What an exchange does with the response its connection parses. */
export interface H1ConnUser {
  /** True when the request was HEAD (its response has no body whatever its framing says). */
  readonly headRequest: boolean;
  /** The response head; returns llhttp's PROCEED or SKIP_BODY (a response to HEAD). */
  onResponseHead(conn: H1Conn, fields: string[], status: number, reason: string, keepAlive: boolean): number;
  /** The response head as the fast path parsed it (h1-fast.ts), starting at offset 0 of `d`; its body follows through onResponseBody. */
  onFastResponseHead(conn: H1Conn, d: Buffer, h: FastHead): void;
  onResponseBody(chunk: Buffer): void;
  onResponseEnd(conn: H1Conn): void;
  /** After each read the connection parsed (the time to flush what it produced). */
  afterUpstreamData(): void;
  /** The connection closed (or failed to parse) before its response ended. */
  onConnClosed(conn: H1Conn, why: string): void;
  /** The connection's write buffer drained. */
  onUpstreamDrain(): void;
}

/** The fast path's scratch head (parses are synchronous). */
const fastHead = new FastHead();

/** One upstream connection. */
export class H1Conn {
  private readonly parser: Parser = new HTTPParser();
  /** The exchange using the connection; undefined while idle. */
  user: H1ConnUser | undefined;
  /** True once it carried a request (the next one is a reuse, retriable on a reset). */
  reused = false;
  /** When it last went idle (Date.now()). */
  idleSince = 0;
  /** How long it may stay idle; 0 or less: never reuse. */
  idleLimitMs: number;
  closed = false;
  private partHeaders: string[] = [];
  private error = '';
  /** llhttp is inside a message (the fast path may only start at a message boundary). */
  private midMessage = false;
  /** Body bytes still due of a response the fast path is carrying; -1: none. */
  private bodyLeft = -1;
  /** Inside llhttp's execute: a release waits for its end (`releaseAt`), so that no new exchange takes the connection while bytes of this read are still being parsed. */
  executing = false;
  releaseAt: number | undefined;
  /** A message began after the exchange let go of the connection: bytes nobody asked for. */
  private stray = false;

  constructor(
    readonly sock: net.Socket,
    public pool: H1Pool,
    idleLimitMs: number,
  ) {
    this.idleLimitMs = idleLimitMs;
    const p = this.parser;
    p.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_SIZE, HTTPParser.kLenientNone);
    // More than llhttp's batch of fields (or a head split across reads) arrives in parts first.
    p[HTTPParser.kOnHeaders] = (h: string[]) => {
      for (const x of h) this.partHeaders.push(x);
    };
    p[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, h: string[] | undefined, _m: unknown, _u: unknown, status: number, reason: string, _upg: boolean, keepAlive: boolean) => {
      if (h === undefined) {
        h = this.partHeaders;
        this.partHeaders = [];
      }
      return this.user ? this.user.onResponseHead(this, h, status, reason ?? '', keepAlive) : PROCEED;
    };
    p[HTTPParser.kOnBody] = (b: Buffer) => this.user?.onResponseBody(b);
    p[HTTPParser.kOnMessageBegin] = () => {
      this.midMessage = true;
      if (!this.user) this.stray = true;
    };
    p[HTTPParser.kOnMessageComplete] = () => {
      this.midMessage = false;
      this.user?.onResponseEnd(this);
    };
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('end', () => this.onEnd());
    sock.on('error', (e: Error) => {
      this.error ||= e.message;
    });
    sock.on('close', () => this.onClose());
    sock.on('drain', () => this.user?.onUpstreamDrain());
  }

  private onData(d: Buffer): void {
    const u = this.user;
    // Bytes nobody asked for: the connection is out of step, never reuse it.
    if (!u) return void this.destroy();
    if (this.bodyLeft >= 0) this.fastBody(u, d, 0);
    else if (!this.midMessage && parseResponseHead(d, 0, fastHead, u.headRequest)) {
      u.onFastResponseHead(this, d, fastHead);
      this.bodyLeft = fastHead.contentLength;
      this.fastBody(u, d, fastHead.end);
    } else {
      this.executing = true;
      const r = this.parser.execute(d);
      this.executing = false;
      if (typeof r !== 'number') {
        this.error = `upstream protocol error: ${r.code ?? r.message}`;
        this.destroy();
      }
      if (this.releaseAt !== undefined) {
        const at = this.releaseAt;
        this.releaseAt = undefined;
        // More came after the response (another message, whole, begun or broken): out of step.
        if (this.stray || this.midMessage || typeof r !== 'number') this.destroy();
        else this.pool.release(this, at);
      }
    }
    u.afterUpstreamData();
  }

  /** Passes on the body bytes of a fast-path response from `off`, and ends it when they are all in. */
  private fastBody(u: H1ConnUser, d: Buffer, off: number): void {
    const n = Math.min(this.bodyLeft, d.length - off);
    if (n > 0) {
      u.onResponseBody(off === 0 && n === d.length ? d : d.subarray(off, off + n));
      this.bodyLeft -= n;
      off += n;
    }
    if (this.bodyLeft > 0) return;
    this.bodyLeft = -1;
    // Bytes past the end of the response: the connection is out of step, never reuse it.
    if (off < d.length) this.idleLimitMs = 0;
    u.onResponseEnd(this);
  }

  private onEnd(): void {
    // A response framed by the close ends here (llhttp completes it on finish()).
    if (this.user) this.parser.finish();
  }

  private onClose(): void {
    this.closed = true;
    this.pool.forget(this);
    const u = this.user;
    this.user = undefined;
    u?.onConnClosed(this, this.error || 'connection closed');
  }

  /** Closes the connection without telling its user (who let go of it). */
  destroy(): void {
    this.sock.destroy();
  }
}

/** How often idle connections past their limit are closed (take() never hands one out anyway). */
const SWEEP_MS = 1_000;
/** Pools holding idle connections, swept by one timer (instead of a socket timer per connection, re-armed on every read and write). */
const withIdle = new Set<H1Pool>();
let sweeper: NodeJS.Timeout | undefined;

function sweep(): void {
  const now = Date.now();
  for (const p of withIdle) if (p.closeExpired(now)) withIdle.delete(p);
  if (withIdle.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/** The idle connections of one endpoint. */
export class H1Pool {
  private readonly idle: H1Conn[] = [];
  /** Set when the endpoint left the cluster (or its TLS settings changed): nothing goes back in. */
  retired = false;

  constructor(public ep: EndpointState) {}

  /** The most recently idle usable connection, or undefined. */
  take(now: number): H1Conn | undefined {
    const idle = this.idle;
    while (idle.length > 0) {
      const c = idle.pop()!;
      if (c.closed) continue;
      if (now - c.idleSince >= c.idleLimitMs) {
        c.destroy();
        continue;
      }
      return c;
    }
    return undefined;
  }

  /** Takes back a connection whose exchange ended cleanly. */
  release(c: H1Conn, now: number): void {
    c.user = undefined;
    // Its read is still being parsed: back into the pool once that is done (H1Conn.onData).
    if (c.executing) return void (c.releaseAt = now);
    if (this.retired || c.closed || c.idleLimitMs <= 0) return void c.destroy();
    c.reused = true;
    c.idleSince = now;
    // Paused for a slow caller of the exchange that just ended: the next one must read.
    if (c.sock.isPaused()) c.sock.resume();
    this.idle.push(c);
    if (this.idle.length === 1) {
      withIdle.add(this);
      if (!sweeper) {
        sweeper = setInterval(sweep, SWEEP_MS);
        sweeper.unref();
      }
    }
  }

  /** Closes idle connections past their limit (`now` on Date.now()'s clock); true when none is left. */
  closeExpired(now: number): boolean {
    const idle = this.idle;
    for (let i = idle.length - 1; i >= 0; i--) {
      const c = idle[i];
      if (now - c.idleSince >= c.idleLimitMs) {
        idle.splice(i, 1);
        c.destroy();
      }
    }
    return idle.length === 0;
  }

  /** Drops a closed connection. */
  forget(c: H1Conn): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Stops pooling: idle connections close now, busy ones after their exchange. */
  retire(): void {
    this.retired = true;
    for (const c of this.idle.splice(0)) c.destroy();
  }
}
