/**
 * The embedded engine's gRPC transport: bidirectional streams over node:http2, the part
 * of gRPC's HTTP/2 protocol one ADS stream needs
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md). @grpc/grpc-js would
 * do the same job, but loading and running it costs an idle kuma-dp about 2 MiB of heap
 * and 9 MiB of resident memory in all (its modules, and the parts of the node binary
 * they touch), against an RSS target of 60 MB; the CP's side is cp/xds/server/grpc-h2.ts.
 *
 * One connection per channel, opened on the first stream and again after it is lost;
 * TLS verified against the given CA (or the system's) and server name, ALPN h2;
 * keepalive pings that drop a connection whose peer stopped answering; a stream ends
 * with exactly one `status` event (the server's grpc-status, or UNAVAILABLE / CANCELLED
 * when the connection or the caller ended it).
 */
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import { frame, FrameReader } from '../../../../lib/grpc-framing';
import { keepAlive } from '../../../../lib/http2-keepalive';

/** gRPC status codes used here. */
export const GrpcStatus = { OK: 0, CANCELLED: 1, UNKNOWN: 2, INTERNAL: 13, UNAVAILABLE: 14 } as const;

export interface GrpcStatusEvent {
  code: number;
  details: string;
}

export interface ChannelOptions {
  host: string;
  port: number;
  /** TLS with this CA (PEM; undefined: the system's CAs); undefined: plaintext (h2c). */
  tls?: { caPem?: string };
  /** Name the server's certificate must carry and the :authority; default: host. */
  serverName?: string;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Largest response message accepted; default 64 MiB. */
  maxReceiveMessageBytes?: number;
}

/** grpc-message is percent-encoded (PROTOCOL-HTTP2.md). */
function decodeGrpcMessage(s: string | string[] | undefined): string {
  const v = Array.isArray(s) ? s.join(',') : (s ?? '');
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** One client stream: `write` messages, `data` for each response, then one `status`. */
export class ClientStream extends EventEmitter {
  private readonly reader: FrameReader;
  private status?: GrpcStatusEvent;
  private cancelled = false;

  constructor(
    private readonly req: http2.ClientHttp2Stream,
    private readonly serialize: (message: unknown) => Buffer,
    private readonly deserialize: (bytes: Buffer) => unknown,
    maxBytes: number,
    sessionError: () => Error | undefined,
  ) {
    super();
    this.reader = new FrameReader(maxBytes);
    req.on('response', (headers) => {
      const code = Number(headers[':status']);
      if (code !== 200) return this.finish(GrpcStatus.UNAVAILABLE, `HTTP status ${code} from the server`, true);
      if (headers['grpc-status'] !== undefined) this.finish(Number(headers['grpc-status']), decodeGrpcMessage(headers['grpc-message']));
    });
    req.on('trailers', (trailers) => {
      this.finish(trailers['grpc-status'] === undefined ? GrpcStatus.UNKNOWN : Number(trailers['grpc-status']), decodeGrpcMessage(trailers['grpc-message']));
    });
    req.on('data', (chunk: Buffer) => this.onData(chunk));
    let streamError: Error | undefined;
    req.on('error', (err) => (streamError = err)); // followed by 'close'
    req.on('close', () => {
      if (this.cancelled) return this.finish(GrpcStatus.CANCELLED, 'cancelled by the client');
      // The connection's own error (refused, TLS) is emitted after its streams close.
      setImmediate(() => {
        const err = sessionError() ?? streamError;
        const cause = (err as { cause?: Error } | undefined)?.cause;
        this.finish(GrpcStatus.UNAVAILABLE, err ? `connection lost: ${err.message}${cause ? ` (${cause.message})` : ''}` : `stream closed without a status (HTTP/2 code ${req.rstCode ?? 0})`);
      });
    });
  }

  /** Sends one message. */
  write(message: unknown): boolean {
    if (this.status || this.req.destroyed) return false;
    return this.req.write(frame(this.serialize(message)));
  }

  /** Ends the stream from this side (RST_STREAM CANCEL); `status` follows. */
  cancel(): void {
    if (this.status) return;
    this.cancelled = true;
    this.req.close(http2.constants.NGHTTP2_CANCEL);
  }

  private onData(chunk: Buffer): void {
    if (this.status) return;
    const problem = this.reader.push(chunk, (bytes) => {
      let message: unknown;
      try {
        message = this.deserialize(bytes);
      } catch (err) {
        this.finish(GrpcStatus.INTERNAL, `response message could not be decoded: ${(err as Error).message}`, true);
        return false;
      }
      this.emit('data', message);
      return !this.status;
    });
    if (problem?.kind === 'too-large') this.finish(GrpcStatus.INTERNAL, `response message of ${problem.bytes} bytes exceeds the limit of ${problem.limit}`, true);
    else if (problem) this.finish(GrpcStatus.INTERNAL, 'the server sent a compressed message, which was not asked for', true);
  }

  private finish(code: number, details: string, reset = false): void {
    if (this.status) return;
    this.status = { code, details };
    if (reset && !this.req.destroyed) this.req.close(http2.constants.NGHTTP2_CANCEL);
    this.emit('status', this.status);
  }
}

/** A connection to one server, for any number of streams. */
export class GrpcChannel {
  private session?: http2.ClientHttp2Session;
  private sessionError?: Error;
  private closed = false;

  constructor(private readonly o: ChannelOptions) {}

  /** Opens a stream on `path` with `metadata` as request headers. */
  openStream(path: string, metadata: Record<string, string>, serialize: (m: unknown) => Buffer, deserialize: (b: Buffer) => unknown): ClientStream {
    const session = this.connect();
    const authority = this.o.serverName ?? (this.o.host.includes(':') ? `[${this.o.host}]:${this.o.port}` : `${this.o.host}:${this.o.port}`);
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'kuma-dp-embedded',
      ...metadata,
    });
    const errorOf = () => this.sessionError;
    return new ClientStream(req, serialize, deserialize, this.o.maxReceiveMessageBytes ?? 64 * 1024 * 1024, errorOf);
  }

  /** Closes the connection; open streams end with UNAVAILABLE. */
  close(): void {
    this.closed = true;
    this.session?.destroy();
    this.session = undefined;
  }

  private connect(): http2.ClientHttp2Session {
    if (this.closed) throw new Error('the gRPC channel is closed');
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const host = this.o.host.includes(':') ? `[${this.o.host}]` : this.o.host;
    const url = `${this.o.tls ? 'https' : 'http'}://${host}:${this.o.port}`;
    const session = this.o.tls
      ? http2.connect(url, { ca: this.o.tls.caPem, servername: this.o.serverName ?? (this.o.host.includes(':') ? undefined : this.o.host), ALPNProtocols: ['h2'] })
      : http2.connect(url);
    this.session = session;
    this.sessionError = undefined;
    session.on('error', (err) => (this.sessionError = err));
    keepAlive(session, this.o.keepaliveTimeMs ?? 30_000, this.o.keepaliveTimeoutMs ?? 20_000, () => (this.sessionError = new Error('keepalive ping unanswered')));
    session.on('close', () => {
      if (this.session === session) this.session = undefined;
    });
    return session;
  }
}
