/**
 * A small HTTP client for the harness: JSON in, JSON (or text) out, bounded by a
 * timeout. node:http rather than fetch, because fetch refuses some ports ("bad
 * ports") that port 0 may hand out, and because it lets us dial a VIP directly while
 * sending the `.mesh` name as Host.
 */
import { request } from 'node:http';

/** A finished HTTP exchange. */
export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

/** Options of one request. */
export interface HttpOptions {
  method?: string;
  /** Sent as JSON unless it is a string. */
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** Connect to this host instead of the URL's (the URL's host is still sent as Host). */
  connectHost?: string;
  connectPort?: number;
}

/** Sends one request; rejects on network errors and on the timeout, never on an HTTP status. */
export function httpRequest(url: string, o: HttpOptions = {}): Promise<HttpResult> {
  const u = new URL(url);
  const payload = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  if (o.connectHost) headers.host = u.host;
  const timeoutMs = o.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: o.connectHost ?? u.hostname,
        port: o.connectPort ?? (u.port ? Number(u.port) : 80),
        path: `${u.pathname}${u.search}`,
        method: o.method ?? 'GET',
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`${o.method ?? 'GET'} ${url}: no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(payload);
  });
}
