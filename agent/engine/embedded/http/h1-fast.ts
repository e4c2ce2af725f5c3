/**
 * The lean forwarder's fast path for ordinary HTTP/1.1 message heads: one pass over the
 * bytes as they arrived, no parser callbacks and no string per field. It takes only heads
 * it can judge in full: complete in the buffer, strictly well-formed (RFC 9112 request
 * and status lines, token field names, field values without control characters, no
 * line folding, no bare LF), framed by Content-Length (or bodyless), and with no
 * hop-by-hop field but `Connection: keep-alive|close` and `Keep-Alive`, whose lines are
 * left out of what is forwarded. Everything else returns false and goes to llhttp, which
 * sees it from the start of the message, so errors and the rarer cases keep one code path.
 * Pure: no sockets.
 */
import { MAX_HEADER_SIZE } from './llhttp';

const HT = 9;
const LF = 10;
const CR = 13;
const SP = 32;
const COLON = 58;

/** RFC 9110 tchar. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;
/** Bytes allowed in a field value or reason phrase: HTAB, SP, VCHAR, obs-text. */
const VALUE = new Uint8Array(256);
VALUE[HT] = 1;
for (let c = 0x20; c < 0x100; c++) if (c !== 0x7f) VALUE[c] = 1;
/** Bytes of an origin-form request target (visible ASCII); anything else goes to llhttp. */
const TARGET = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) TARGET[c] = 1;

/** The methods taken on the fast path, by their bytes (the string is the one llhttp's table has). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'];

/** At most this many lines are left out of one head (more: llhttp). */
const MAX_DROPS = 4;

/** What a fast parse found; one instance is reused for every head (the parse is synchronous). */
export class FastHead {
  /** Offset just past the blank line that ends the head. */
  end = 0;
  /** Requests: the method and the request target. */
  method = '';
  url = '';
  /** Requests: the Host value ('' without one). */
  host = '';
  /** Responses: the status code. */
  status = 0;
  /** Content-Length, or -1 without one. */
  contentLength = -1;
  /** `Connection: close` was present. */
  close = false;
  /** Responses: `timeout=N` of a Keep-Alive field in seconds, else -1. */
  keepAliveTimeoutS = -1;
  /** Lines left out of the forwarded head, as [start, end) offsets, ascending. */
  readonly drops = new Int32Array(MAX_DROPS * 2);
  nDrops = 0;
}

function startsWith(d: Buffer, at: number, ascii: string): boolean {
  if (at + ascii.length > d.length) return false;
  for (let k = 0; k < ascii.length; k++) if (d[at + k] !== ascii.charCodeAt(k)) return false;
  return true;
}

/** Case-insensitive comparison of a field name with a lower-case one of the same length. */
function nameIs(d: Buffer, at: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) {
    const c = d[at + k];
    const l = lower.charCodeAt(k);
    // Field names are tchars here: c | 0x20 folds only A-Z onto a-z.
    if (c !== l && (c | 0x20) !== l) return false;
  }
  return true;
}

function valueIs(d: Buffer, vs: number, ve: number, lower: string): boolean {
  return ve - vs === lower.length && nameIs(d, vs, lower);
}

/** Digits only, at most 15 (a safe integer); else -1. */
function decimal(d: Buffer, vs: number, ve: number): number {
  if (ve === vs || ve - vs > 15 || ve > d.length) return -1;
  let n = 0;
  for (let k = vs; k < ve; k++) {
    const c = d[k] - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** The `timeout=N` of a Keep-Alive value (case-insensitive), else -1. */
function keepAliveTimeout(d: Buffer, vs: number, ve: number): number {
  for (let k = vs; k + 8 <= ve; k++) {
    if (!nameIs(d, k, 'timeout=')) continue;
    let j = k + 8;
    while (j < ve && (d[j] === SP || d[j] === HT)) j++;
    const s = j;
    while (j < ve && d[j] >= 48 && d[j] <= 57) j++;
    return decimal(d, s, j);
  }
  return -1;
}

function drop(h: FastHead, start: number, end: number): boolean {
  if (h.nDrops === MAX_DROPS) return false;
  h.drops[h.nDrops * 2] = start;
  h.drops[h.nDrops * 2 + 1] = end;
  h.nDrops++;
  return true;
}

/**
 * The field lines from `i` to the blank line. Fills host (requests), contentLength, close,
 * keepAliveTimeoutS, the dropped lines and `end`; false for anything llhttp should judge.
 */
function fields(d: Buffer, i: number, limit: number, h: FastHead, request: boolean): boolean {
  let seenHost = false;
  let seenConnection = false;
  for (;;) {
    if (i + 1 >= limit) return false;
    if (d[i] === CR) {
      if (d[i + 1] !== LF) return false;
      h.end = i + 2;
      return true;
    }
    const lineStart = i;
    while (i < limit && TCHAR[d[i]] === 1) i++;
    const nameLen = i - lineStart;
    // No name, whitespace before the colon, a folded line, or the head runs on past the chunk.
    if (nameLen === 0 || i >= limit || d[i] !== COLON) return false;
    i++;
    while (i < limit && (d[i] === SP || d[i] === HT)) i++;
    const vs = i;
    while (i < limit && VALUE[d[i]] === 1) i++;
    if (i + 1 >= limit || d[i] !== CR || d[i + 1] !== LF) return false;
    // Connection and Content-Length are read only without trailing whitespace (llhttp's
    // reading of `close\t` or `5\t` differs from a trimmed one): with it, llhttp decides.
    const rawEnd = i;
    let ve = i;
    while (ve > vs && (d[ve - 1] === SP || d[ve - 1] === HT)) ve--;
    i += 2;
    switch (nameLen) {
      case 2: // te
        if (nameIs(d, lineStart, 'te')) return false;
        break;
      case 4:
        if (request && nameIs(d, lineStart, 'host')) {
          if (seenHost) return false;
          seenHost = true;
          h.host = d.toString('latin1', vs, ve);
        }
        break;
      case 6: // expect
        if (nameIs(d, lineStart, 'expect')) return false;
        break;
      case 7: // upgrade, trailer
        if (nameIs(d, lineStart, 'upgrade') || nameIs(d, lineStart, 'trailer')) return false;
        break;
      case 10:
        if (nameIs(d, lineStart, 'connection')) {
          if (seenConnection) return false;
          seenConnection = true;
          if (valueIs(d, vs, rawEnd, 'close')) h.close = true;
          else if (!valueIs(d, vs, rawEnd, 'keep-alive')) return false;
          if (!drop(h, lineStart, i)) return false;
        } else if (nameIs(d, lineStart, 'keep-alive')) {
          if (!request) {
            // The last field with a timeout counts (as in scanHead).
            const s = keepAliveTimeout(d, vs, ve);
            if (s >= 0) h.keepAliveTimeoutS = s;
          }
          if (!drop(h, lineStart, i)) return false;
        }
        break;
      case 14:
        if (nameIs(d, lineStart, 'content-length')) {
          if (h.contentLength >= 0) return false;
          h.contentLength = decimal(d, vs, rawEnd);
          if (h.contentLength < 0) return false;
        }
        break;
      case 16: // proxy-connection
        if (nameIs(d, lineStart, 'proxy-connection')) return false;
        break;
      case 17: // transfer-encoding
        if (nameIs(d, lineStart, 'transfer-encoding')) return false;
        break;
      case 18:
      case 19:
        if (nameIs(d, lineStart, 'proxy-authenticate') || nameIs(d, lineStart, 'proxy-authorization')) return false;
        break;
    }
  }
}

function reset(h: FastHead): void {
  h.host = '';
  h.contentLength = -1;
  h.close = false;
  h.keepAliveTimeoutS = -1;
  h.nDrops = 0;
}

/**
 * An HTTP/1.1 request head in origin form, its body framed by Content-Length or absent (no
 * Transfer-Encoding), starting at `start` and complete in `d` (the body may follow later);
 * false: llhttp's turn.
 */
export function parseRequestHead(d: Buffer, start: number, h: FastHead): boolean {
  reset(h);
  const limit = Math.min(d.length, start + MAX_HEADER_SIZE);
  let i = start;
  let method = '';
  for (const m of METHODS) {
    if (d[i] === m.charCodeAt(0) && d[i + m.length] === SP && startsWith(d, i, m)) {
      method = m;
      break;
    }
  }
  if (!method) return false;
  i += method.length + 1;
  const us = i;
  if (d[i] !== 0x2f /* / */) return false;
  while (i < limit && TARGET[d[i]] === 1) i++;
  const ue = i;
  if (d[i] !== SP || !startsWith(d, i + 1, 'HTTP/1.1\r\n')) return false;
  if (!fields(d, i + 11, limit, h, true)) return false;
  h.method = method;
  h.url = d.toString('latin1', us, ue);
  return true;
}

/**
 * An HTTP/1.1 final response head (status 200-599) starting at `start`, complete in `d`,
 * with its body framed by Content-Length, or a 204 or 304 (no body); `noBody`: the
 * request was HEAD, so the body Content-Length announces does not follow. False: llhttp's turn.
 */
export function parseResponseHead(d: Buffer, start: number, h: FastHead, noBody: boolean): boolean {
  reset(h);
  const limit = Math.min(d.length, start + MAX_HEADER_SIZE);
  if (!startsWith(d, start, 'HTTP/1.1 ')) return false;
  let i = start + 9;
  const s = decimal(d, i, i + 3);
  if (s < 200 || s > 599 || d[i + 3] !== SP) return false;
  i += 4;
  while (i < limit && VALUE[d[i]] === 1) i++;
  if (i + 1 >= limit || d[i] !== CR || d[i + 1] !== LF) return false;
  if (!fields(d, i + 2, limit, h, false)) return false;
  h.status = s;
  if (s === 204 || s === 304) h.contentLength = 0;
  // A response to HEAD without Content-Length stays with llhttp (which keeps such a connection only for the close it no longer waits for).
  else if (h.contentLength < 0) return false;
  else if (noBody) h.contentLength = 0;
  return true;
}

/**
 * The head's fields as llhttp lists them ([name, value, ...], hop-by-hop ones included,
 * values without surrounding whitespace), for route header matchers. Only for a head the
 * fast path took: its lines are known to be well-formed.
 */
export function fieldList(d: Buffer, start: number, h: FastHead): string[] {
  const out: string[] = [];
  let i = d.indexOf(LF, start) + 1;
  while (i < h.end - 2) {
    const colon = d.indexOf(COLON, i);
    const cr = d.indexOf(CR, colon);
    let vs = colon + 1;
    while (vs < cr && (d[vs] === SP || d[vs] === HT)) vs++;
    let ve = cr;
    while (ve > vs && (d[ve - 1] === SP || d[ve - 1] === HT)) ve--;
    out.push(d.toString('latin1', i, colon), d.toString('latin1', vs, ve));
    i = cr + 2;
  }
  return out;
}

/** The head's bytes without the dropped lines and, with `cutBlank`, without the final blank line. */
export function keptHead(d: Buffer, start: number, h: FastHead, cutBlank: boolean): Buffer {
  const end = cutBlank ? h.end - 2 : h.end;
  if (h.nDrops === 0) return d.subarray(start, end);
  let len = end - start;
  for (let k = 0; k < h.nDrops; k++) len -= h.drops[k * 2 + 1] - h.drops[k * 2];
  const out = Buffer.allocUnsafe(len);
  let from = start;
  let off = 0;
  for (let k = 0; k < h.nDrops; k++) {
    off += d.copy(out, off, from, h.drops[k * 2]);
    from = h.drops[k * 2 + 1];
  }
  d.copy(out, off, from, end);
  return out;
}
