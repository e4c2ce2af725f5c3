/**
 * The pure part of the lean HTTP/1.1 forwarder: one pass over a message's raw field list
 * (as llhttp hands it over: [name, value, ...], spelling and order kept) that finds what
 * forwarding needs, drops the hop-by-hop fields, and serialises message heads. No sockets.
 */

// RFC 9110 §7.6.1: connection-specific fields are not forwarded.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authenticate', 'proxy-authorization']);

/**
 * Name lengths worth lower-casing: those of the hop-by-hop fields and of the fields the
 * forwarder reads (host, content-length, expect). Every other name passes untouched, so
 * a typical head costs no string allocation here.
 */
const INTERESTING_LENGTH: boolean[] = [];
for (const n of [...HOP_BY_HOP, 'host', 'content-length', 'expect']) INTERESTING_LENGTH[n.length] = true;

/** What the forwarder needs from one message head. */
export interface HeadInfo {
  /** The end-to-end fields, [name, value, ...] as they arrived (the input list itself when nothing was dropped). */
  fields: string[];
  /** Content-Length when the message is framed by it (and not by Transfer-Encoding), else -1. */
  contentLength: number;
  /** True when the message carried Transfer-Encoding. */
  transferEncoding: boolean;
  /** The first Host field ('' without one). */
  host: string;
  /** True for `Expect: 100-continue`. */
  expectContinue: boolean;
  /** The `timeout=N` of a Keep-Alive field in seconds, else -1. */
  keepAliveTimeoutS: number;
}

/** Scans a raw field list once: see HeadInfo. `connection` tokens name further hop-by-hop fields (RFC 9110 §7.6.1). */
export function scanHead(raw: string[]): HeadInfo {
  let host: string | undefined;
  let contentLength = -1;
  let te = false;
  let expectContinue = false;
  let keepAliveTimeoutS = -1;
  let connection: string | undefined;
  let hop = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (INTERESTING_LENGTH[n.length] !== true) continue;
    const k = n.toLowerCase();
    const v = raw[i + 1];
    switch (k) {
      case 'host':
        if (host === undefined) host = v;
        break;
      case 'content-length':
        contentLength = Number(v);
        break;
      case 'expect':
        expectContinue = v.toLowerCase() === '100-continue';
        break;
      case 'transfer-encoding':
        te = true;
        hop++;
        break;
      case 'connection':
        connection = connection === undefined ? v : `${connection},${v}`;
        hop++;
        break;
      case 'keep-alive': {
        // Read on every response of a Node app (`Keep-Alive: timeout=5`): no regex here.
        let j = v.indexOf('timeout=');
        if (j < 0) j = v.toLowerCase().indexOf('timeout=');
        if (j >= 0) {
          const n = parseInt(v.slice(j + 8), 10);
          if (n >= 0) keepAliveTimeoutS = n;
        }
        hop++;
        break;
      }
      default:
        if (HOP_BY_HOP.has(k)) hop++;
    }
  }
  let named: string[] | undefined;
  // `Connection: keep-alive` or `close` (nearly every message that has the field) names nothing else.
  const lc = connection?.toLowerCase();
  if (lc !== undefined && lc !== 'keep-alive' && lc !== 'close') {
    for (const tok of lc.split(',')) {
      const t = tok.trim();
      if (t && t !== 'close' && !HOP_BY_HOP.has(t)) (named ??= []).push(t);
    }
  }
  let fields = raw;
  if (hop > 0 || named) {
    fields = [];
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i];
      if (named || INTERESTING_LENGTH[n.length] === true) {
        const k = n.toLowerCase();
        if (HOP_BY_HOP.has(k) || (named && named.includes(k))) continue;
      }
      fields.push(n, raw[i + 1]);
    }
  }
  return { fields, contentLength: te ? -1 : contentLength, transferEncoding: te, host: host ?? '', expectContinue, keepAliveTimeoutS };
}

/** The value of a field in a raw list, several fields joined with ", " (as node:http's `headers` joins them); `name` in lower case. */
export function rawFieldValue(raw: string[], name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length !== name.length || n.toLowerCase() !== name) continue;
    out = out === undefined ? raw[i + 1] : `${out}, ${raw[i + 1]}`;
  }
  return out;
}

/** Appends `name: value` lines for a field list. */
function fieldLines(s: string, fields: string[]): string {
  for (let i = 0; i < fields.length; i += 2) s += fields[i] + ': ' + fields[i + 1] + '\r\n';
  return s;
}

/** A request head for the upstream (always HTTP/1.1; `chunked` adds the framing the body is re-encoded with). */
export function requestHead(method: string, url: string, fields: string[], chunked: boolean): string {
  let s = fieldLines(method + ' ' + url + ' HTTP/1.1\r\n', fields);
  if (chunked) s += 'transfer-encoding: chunked\r\n';
  return s + '\r\n';
}

/** A response head for the downstream; `connection` is the Connection value to send ('' for none). */
export function responseHead(status: number, reason: string, fields: string[], chunked: boolean, connection: string): string {
  let s = fieldLines('HTTP/1.1 ' + status + ' ' + reason + '\r\n', fields);
  if (chunked) s += 'transfer-encoding: chunked\r\n';
  if (connection) s += 'connection: ' + connection + '\r\n';
  return s + '\r\n';
}

/** Standard reason phrases of the answers the proxy makes itself. */
const REASONS: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 431: 'Request Header Fields Too Large', 503: 'Service Unavailable', 504: 'Gateway Timeout' };

/** A whole local answer (plain text), as Envoy makes for 404/503/504. */
export function localAnswer(status: number, body: string, close: boolean): string {
  const len = Buffer.byteLength(body);
  return `HTTP/1.1 ${status} ${REASONS[status] ?? ''}\r\ncontent-type: text/plain\r\ncontent-length: ${len}\r\n${close ? 'connection: close\r\n' : ''}\r\n${body}`;
}
