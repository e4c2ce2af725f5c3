/**
 * The gRPC server of the ADS streams, on node:http2 directly: the protocol part of gRPC a
 * bidirectional-streaming service needs (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md),
 * nothing else. @grpc/grpc-js costs the CP about a third more CPU per message (measured: 30-33
 * against 22-23 µs per request/response round on 1,000 connections), and a mesh-wide change
 * is a few messages on every one of thousands of streams.
 *
 * What is implemented: POST with content-type application/grpc*, length-prefixed messages
 * both ways (uncompressed; a compressed one ends the call with UNIMPLEMENTED), a receive
 * size limit (RESOURCE_EXHAUSTED), request headers as grpc.Metadata (grpc-js's own conversion),
 * response headers sent with the first message, status and message in trailers (or a
 * trailers-only response when no message was sent), UNIMPLEMENTED for unknown methods,
 * keepalive pings that close a connection whose peer stopped answering, GOAWAY on close.
 * Connections come either injected (the DP server's TLS port, after ALPN chose h2) or from
 * a plaintext listener.
 */
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { FrameReader } from '../../../lib/grpc-framing';
import { keepAlive } from '../../../lib/http2-keepalive';
import type { Logger } from '../../../lib/logger';

/** One server-side call of a streaming method. */
export interface ServerStreamCall {
  /** The request headers (custom metadata, `authorization` among them). */
  readonly metadata: grpc.Metadata;
  /** `ip:port` of the client (IPv6 in brackets). */
  getPeer(): string;
  /** Sends one message; `frame` must already carry the 5-byte gRPC prefix (lib/grpc-framing `frame`). */
  writeFrame(frame: Buffer): boolean;
  /** Ends the call with a status; later writes are dropped. Idempotent. */
  end(code: grpc.status, details?: string): void;
  /** `data`: each decoded request; `end`: the client half-closed; `close`: the call is over, however it ended. */
  on(event: 'data', listener: (request: any) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
}

/** A streaming method: its request decoder and handler. */
export interface StreamMethod {
  deserialize(bytes: Buffer): unknown;
  handler(call: ServerStreamCall): void;
}

export interface GrpcH2ServerOptions {
  /** Methods by path, `/<package>.<Service>/<Method>`. */
  methods: Record<string, StreamMethod>;
  log: Logger;
  /** Largest request message; default 16 MiB. */
  maxReceiveMessageBytes?: number;
  /** Interval of keepalive pings per connection; default 60 s, 0 disables. */
  keepaliveTimeMs?: number;
  /** How long a ping may go unanswered before the connection is closed; default 20 s. */
  keepaliveTimeoutMs?: number;
}

/** grpc-message: percent-encoded outside printable ASCII, and `%` itself (PROTOCOL-HTTP2.md). */
export function encodeGrpcMessage(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

class Call extends EventEmitter implements ServerStreamCall {
  readonly metadata: grpc.Metadata;
  private readonly reader: FrameReader;
  private headersSent = false;
  private ended = false;
  private closed = false;
  private trailers: http2.OutgoingHttpHeaders = { 'grpc-status': '0' };

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    private readonly method: StreamMethod,
    maxBytes: number,
    private readonly peer: string,
  ) {
    super();
    this.reader = new FrameReader(maxBytes);
    // What grpc-js's own server hands its handlers, `-bin` values decoded.
    this.metadata = grpc.Metadata.fromHttp2Headers(headers);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => {
      // A reset (the client cancelled) ends the readable side too, just before the stream
      // is destroyed: only an end that outlives the current tick is a half-close.
      setImmediate(() => {
        if (this.ended || stream.aborted || stream.destroyed) return;
        this.emit('end');
        this.end(grpc.status.OK);
      });
    });
    stream.on('wantTrailers', () => stream.sendTrailers(this.trailers));
    // A stream error (a reset, a session gone) is always followed by 'close'.
    stream.on('error', () => undefined);
    stream.on('close', () => {
      this.closed = true;
      this.ended = true;
      this.emit('close');
    });
  }

  getPeer(): string {
    return this.peer;
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    const problem = this.reader.push(chunk, (bytes) => {
      let request: unknown;
      try {
        request = this.method.deserialize(bytes);
      } catch (err) {
        this.end(grpc.status.INTERNAL, `request message could not be decoded: ${(err as Error).message}`);
        return false;
      }
      this.emit('data', request);
      return !this.ended;
    });
    if (problem?.kind === 'too-large') this.end(grpc.status.RESOURCE_EXHAUSTED, `request message of ${problem.bytes} bytes exceeds the limit of ${problem.limit}`);
    else if (problem) this.end(grpc.status.UNIMPLEMENTED, 'compressed request messages are not supported; send them uncompressed (grpc-encoding identity)');
  }

  writeFrame(frameBytes: Buffer): boolean {
    if (this.ended || this.closed) return false;
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    }
    return this.stream.write(frameBytes);
  }

  end(code: grpc.status, details = ''): void {
    if (this.ended) return;
    this.ended = true;
    if (this.closed || this.stream.destroyed) return;
    const status: http2.OutgoingHttpHeaders = { 'grpc-status': String(code), ...(details ? { 'grpc-message': encodeGrpcMessage(details) } : {}) };
    if (this.headersSent) {
      this.trailers = status;
      this.stream.end();
    } else {
      // Trailers-only: the status in the one HEADERS frame that ends the stream.
      this.headersSent = true;
      this.stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...status }, { endStream: true });
    }
  }
}

/** gRPC over node:http2 for streaming methods; see the file comment. */
export class GrpcH2Server {
  private readonly h2: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly listeners: net.Server[] = [];
  private readonly maxBytes: number;

  constructor(private readonly o: GrpcH2ServerOptions) {
    this.maxBytes = o.maxReceiveMessageBytes ?? 16 * 1024 * 1024;
    // Responses to thousands of streams are queued at once during a mesh-wide change: the
    // session memory cap (10 MB by default) would refuse them as ENHANCE_YOUR_CALM.
    this.h2 = http2.createServer({ maxSessionMemory: 1024, settings: { enablePush: false } });
    this.h2.on('session', (s) => this.onSession(s));
    this.h2.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  /** Serves a connection already accepted (and, for TLS, already handshaken with ALPN h2). */
  injectConnection(socket: net.Socket): void {
    this.h2.emit('connection', socket);
  }

  /** Listens for plaintext (h2c, prior knowledge) connections; returns the bound port. */
  async listen(host: string, port: number): Promise<number> {
    const server = net.createServer((sock) => this.injectConnection(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.listeners.push(server);
    return (server.address() as net.AddressInfo).port;
  }

  /** Stops listening, sends GOAWAY, waits up to `graceMs` for calls to end, then closes what is left. */
  async close(graceMs = 1000): Promise<void> {
    for (const l of this.listeners) l.close();
    const open = [...this.sessions];
    for (const s of open) if (!s.closed && !s.destroyed) s.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      timer.unref();
      const check = () => {
        if (this.sessions.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      for (const s of open) s.once('close', check);
      check();
    });
    this.destroy();
  }

  /** Closes every connection now. */
  destroy(): void {
    for (const l of this.listeners) l.close();
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
  }

  private onSession(session: http2.ServerHttp2Session): void {
    this.sessions.add(session);
    session.on('error', (err) => this.o.log.debug({ err: err.message }, 'gRPC connection error'));
    keepAlive(session, this.o.keepaliveTimeMs ?? 60_000, this.o.keepaliveTimeoutMs ?? 20_000, () => this.o.log.debug({}, 'gRPC keepalive ping unanswered; closing the connection'));
    session.on('close', () => {
      this.sessions.delete(session);
    });
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const contentType = String(headers['content-type'] ?? '');
    if (headers[':method'] !== 'POST' || !contentType.startsWith('application/grpc')) {
      stream.respond({ ':status': 415, 'content-type': 'text/plain' }, { endStream: false });
      stream.end(`gRPC only: POST with content-type application/grpc (got ${headers[':method']} ${contentType || 'no content-type'})\n`);
      return;
    }
    const path = String(headers[':path'] ?? '');
    const method = Object.prototype.hasOwnProperty.call(this.o.methods, path) ? this.o.methods[path] : undefined;
    if (!method) {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(grpc.status.UNIMPLEMENTED), 'grpc-message': encodeGrpcMessage(`method ${path} is not served here`) },
        { endStream: true },
      );
      return;
    }
    const sock = stream.session?.socket;
    const addr = sock?.remoteAddress ?? '';
    const peer = `${addr.includes(':') ? `[${addr}]` : addr}:${sock?.remotePort ?? 0}`;
    method.handler(new Call(stream, headers, method, this.maxBytes, peer));
  }
}
