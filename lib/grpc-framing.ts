/**
 * gRPC's message framing on HTTP/2 (PROTOCOL-HTTP2.md, "Length-Prefixed-Message"): a
 * compressed flag byte, a 4-byte big-endian length, the message. Used by both ends the
 * project wrote itself: the CP's ADS server (cp/xds/server/grpc-h2.ts) and the embedded
 * engine's ADS client (agent/engine/embedded/xds-client/grpc-stream.ts). Pure.
 */

/** `message` with the gRPC length prefix (uncompressed), in one new buffer. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Why a frame cannot be read: too large, or compressed (nothing here decompresses). */
export type FrameProblem = { kind: 'too-large'; bytes: number; limit: number } | { kind: 'compressed' };

/** Splits a byte stream into messages, across chunk boundaries. */
export class FrameReader {
  private pending?: Buffer;

  constructor(private readonly maxBytes: number) {}

  /**
   * Adds `chunk` and calls `onMessage` for each complete message, in order, until it
   * returns false. Returns the problem that stopped reading, if any (the stream is then
   * unusable).
   */
  push(chunk: Buffer, onMessage: (bytes: Buffer) => boolean): FrameProblem | undefined {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (len > this.maxBytes) return { kind: 'too-large', bytes: len, limit: this.maxBytes };
      if (buf.length < 5 + len) break;
      if ((buf[0] & 1) === 1) return { kind: 'compressed' };
      const bytes = buf.subarray(5, 5 + len);
      buf = buf.subarray(5 + len);
      if (!onMessage(bytes)) return undefined;
    }
    this.pending = buf.length > 0 ? buf : undefined;
    return undefined;
  }
}
