/**
 * Reads the server name from the first bytes of a TLS connection without terminating
 * it (what Envoy's tls_inspector does). Handles a ClientHello split across records
 * (RFC 8446 §5.1 allows fragmentation of handshake messages) and across TCP reads,
 * and never throws on garbage. Pure.
 * Wire formats: RFC 8446 §4.1.2 (ClientHello), RFC 6066 §3 (server_name extension).
 */

/** The most bytes we buffer while looking for the ClientHello. */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

/** Outcome of looking at the bytes received so far. */
export type SniResult =
  | { status: 'need-more' }
  | { status: 'ok'; serverName?: string }
  | { status: 'not-tls'; reason: string };

const RECORD_HEADER = 5;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const NAME_TYPE_HOST = 0;

/** Parses `buf` (everything received so far). */
export function parseClientHelloSni(buf: Buffer): SniResult {
  // 1. Reassemble the handshake layer from as many records as we have.
  const parts: Buffer[] = [];
  let have = 0;
  let off = 0;
  let need = -1; // total handshake bytes for the ClientHello, once known
  while (true) {
    if (buf.length - off < RECORD_HEADER) break;
    if (buf[off] !== CONTENT_HANDSHAKE) {
      return off === 0 ? { status: 'not-tls', reason: `first record type ${buf[off]} is not a handshake (22)` } : { status: 'not-tls', reason: 'ClientHello interrupted by a non-handshake record' };
    }
    if (buf[off + 1] !== 3) return { status: 'not-tls', reason: `record version major ${buf[off + 1]} is not 3` };
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16384 + 2048) return { status: 'not-tls', reason: `record length ${len} out of range` };
    const end = off + RECORD_HEADER + len;
    const avail = Math.min(end, buf.length);
    parts.push(buf.subarray(off + RECORD_HEADER, avail));
    have += avail - off - RECORD_HEADER;
    if (need < 0 && have >= 4) {
      const hs = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      if (hs[0] !== HANDSHAKE_CLIENT_HELLO) return { status: 'not-tls', reason: `handshake type ${hs[0]} is not ClientHello (1)` };
      need = 4 + hs.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO_BYTES) return { status: 'not-tls', reason: `ClientHello of ${need} bytes is too large` };
    }
    if (need >= 0 && have >= need) break;
    if (avail < end) break;
    off = end;
  }
  if (need < 0 || have < need) {
    if (buf.length > MAX_CLIENT_HELLO_BYTES) return { status: 'not-tls', reason: 'no complete ClientHello within the size limit' };
    return { status: 'need-more' };
  }
  const hello = (parts.length === 1 ? parts[0] : Buffer.concat(parts)).subarray(4, need);
  return parseHelloBody(hello);
}

function parseHelloBody(h: Buffer): SniResult {
  const bad = (what: string): SniResult => ({ status: 'not-tls', reason: `malformed ClientHello: ${what}` });
  let p = 2 + 32; // legacy_version, random
  if (h.length < p + 1) return bad('truncated before session id');
  p += 1 + h[p];
  if (h.length < p + 2) return bad('truncated before cipher suites');
  p += 2 + h.readUInt16BE(p);
  if (h.length < p + 1) return bad('truncated before compression methods');
  p += 1 + h[p];
  if (p === h.length) return { status: 'ok' }; // no extensions at all
  if (h.length < p + 2) return bad('truncated extensions length');
  const extEnd = p + 2 + h.readUInt16BE(p);
  if (extEnd > h.length) return bad('extensions overrun the message');
  p += 2;
  while (p + 4 <= extEnd) {
    const type = h.readUInt16BE(p);
    const len = h.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return bad('extension overruns the extensions block');
    if (type === EXT_SERVER_NAME) {
      if (len < 2) return bad('empty server_name extension');
      const listEnd = p + 2 + h.readUInt16BE(p);
      if (listEnd > p + len) return bad('server_name list overruns its extension');
      let q = p + 2;
      while (q + 3 <= listEnd) {
        const nameType = h[q];
        const nameLen = h.readUInt16BE(q + 1);
        q += 3;
        if (q + nameLen > listEnd) return bad('server name overruns its list');
        if (nameType === NAME_TYPE_HOST) return { status: 'ok', serverName: h.toString('latin1', q, q + nameLen) };
        q += nameLen;
      }
      return { status: 'ok' };
    }
    p += len;
  }
  return { status: 'ok' };
}
