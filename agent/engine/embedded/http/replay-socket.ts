/**
 * A duplex that first yields bytes already read from a socket, then the socket's own
 * data. Node's HTTP/2 server reads straight from a socket's handle, so bytes read while
 * sniffing the protocol cannot be unshifted for it; handing it this duplex instead
 * makes it read through JS streams (only for HTTP/2 connections).
 */
import { Duplex } from 'node:stream';
import type net from 'node:net';

/** The socket, replaying `head` first. */
export class ReplaySocket extends Duplex {
  constructor(private readonly sock: net.Socket, head: Buffer) {
    super({ allowHalfOpen: true });
    if (head.length) this.push(head);
    sock.on('data', (d: Buffer) => {
      if (!this.push(d)) sock.pause();
    });
    sock.on('end', () => this.push(null));
    sock.on('error', (e) => this.destroy(e));
    sock.on('close', () => this.destroy());
  }

  get remoteAddress(): string | undefined {
    return this.sock.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.sock.remotePort;
  }

  override _read(): void {
    this.sock.resume();
  }

  override _write(chunk: Buffer, enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.sock.write(chunk, enc, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.sock.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.sock.destroy();
    cb(err);
  }

  setTimeout(ms: number, cb?: () => void): this {
    this.sock.setTimeout(ms, cb);
    return this;
  }

  setNoDelay(v?: boolean): this {
    this.sock.setNoDelay(v);
    return this;
  }

  setKeepAlive(v?: boolean, d?: number): this {
    this.sock.setKeepAlive(v, d);
    return this;
  }
}

/** How long a new HTTP connection may stay silent (Node's own headersTimeout is 60 s too). */
export const SNIFF_TIMEOUT_MS = 60_000;

/** The HTTP/2 connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * codec_type AUTO: reads until the bytes are, or cannot be, the HTTP/2 preface. `head`
 * holds what was read; for HTTP/1 it has already been unshifted back onto the socket.
 */
export function sniffHttp2(sock: net.Socket, cb: (h2: boolean, head: Buffer) => void, timeoutMs = SNIFF_TIMEOUT_MS): void {
  let buf: Buffer = Buffer.alloc(0);
  // A connection that never sends a byte must not hold its socket forever.
  const timer = setTimeout(() => sock.destroy(), timeoutMs);
  const onData = (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    const n = Math.min(buf.length, H2_PREFACE.length);
    const prefix = buf.compare(H2_PREFACE, 0, n, 0, n) === 0;
    if (prefix && buf.length < H2_PREFACE.length) return;
    clearTimeout(timer);
    sock.removeListener('data', onData);
    sock.removeListener('end', onEnd);
    sock.pause();
    if (!prefix) sock.unshift(buf);
    cb(prefix, buf);
    if (!prefix) sock.resume();
  };
  const onEnd = () => {
    clearTimeout(timer);
    sock.destroy();
  };
  sock.once('close', () => clearTimeout(timer));
  sock.on('data', onData);
  sock.once('end', onEnd);
}
