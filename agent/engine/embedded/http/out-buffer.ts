/**
 * Bytes gathered while one input event is handled (a head, body chunks, a chunk
 * terminator) and written to a socket as one buffer: one write call and, on TLS, one
 * record, instead of a write (or a writev and its bookkeeping) per piece.
 */
import type net from 'node:net';

/** Above this the pieces are written corked instead of copied into one buffer. */
const COPY_LIMIT = 64 * 1024;

/** Pending output of one direction of one connection. */
export class OutBuffer {
  private parts: (string | Buffer)[] = [];
  /** Bytes pending (strings count as latin1, one byte per char). */
  bytes = 0;

  /** Adds a latin1 string or a buffer. */
  push(p: string | Buffer): void {
    this.parts.push(p);
    this.bytes += p.length;
  }

  /** Drops what is pending. */
  clear(): void {
    this.parts = [];
    this.bytes = 0;
  }

  /** Writes what is pending; returns socket.write's answer (false: wait for 'drain'). */
  flush(sock: net.Socket): boolean {
    const parts = this.parts;
    const n = parts.length;
    if (n === 0) return true;
    const bytes = this.bytes;
    this.parts = [];
    this.bytes = 0;
    if (n === 1) {
      const p = parts[0];
      return typeof p === 'string' ? sock.write(p, 'latin1') : sock.write(p);
    }
    if (bytes <= COPY_LIMIT) {
      const b = Buffer.allocUnsafe(bytes);
      let off = 0;
      for (const p of parts) off += typeof p === 'string' ? b.write(p, off, 'latin1') : p.copy(b, off);
      return sock.write(b);
    }
    sock.cork();
    let ok = true;
    for (const p of parts) ok = (typeof p === 'string' ? sock.write(p, 'latin1') : sock.write(p)) && ok;
    sock.uncork();
    return ok;
  }
}
