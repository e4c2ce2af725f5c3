/**
 * The REST client kumactl talks to kuma-cp with (node:http, bounded by a timeout). CP
 * errors become CpError carrying Kuma's `{title, details, causes}` so they print
 * readably; network failures become CpUnreachableError naming the address.
 */
import http from 'node:http';
import https from 'node:https';
import { KumaError, type FieldViolation } from '../lib/errors';

/** A non-2xx answer of the CP. */
export class CpError extends KumaError {
  readonly status: number;
  readonly title: string;
  readonly details: string;
  readonly causes: FieldViolation[];
  constructor(status: number, title: string, details: string, causes: FieldViolation[]) {
    super('ERR_CP', `${title}${details ? ` (${details})` : ''}`);
    this.status = status;
    this.title = title;
    this.details = details;
    this.causes = causes;
  }
}

/** The CP could not be reached at all. */
export class CpUnreachableError extends KumaError {
  constructor(url: string, cause: unknown) {
    const e = cause as NodeJS.ErrnoException;
    const why = e?.code ?? e?.message ?? 'error';
    super('ERR_CP_UNREACHABLE', `could not reach the control plane at ${url} (${why}); check --cp-address or kumactl config control-planes`, { cause });
  }
}

/** Per-request timeout. */
const TIMEOUT_MS = 30_000;
/** Largest answer kumactl reads. */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/** A thin client of one CP's REST API. */
export class ApiClient {
  constructor(readonly baseUrl: string) {}

  /** Sends a request; returns the parsed JSON (or text) body of a 2xx answer, throws CpError otherwise. */
  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = new URL(this.baseUrl.replace(/\/+$/, '') + path);
    const payload = body !== undefined ? Buffer.from(JSON.stringify(body)) : undefined;
    const res = await this.send(method, url, payload);
    const text = res.body.toString('utf8');
    let parsed: unknown = text;
    if ((res.contentType ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (res.status >= 200 && res.status < 300) return parsed;
    const e = (parsed && typeof parsed === 'object' ? parsed : {}) as { title?: unknown; details?: unknown; causes?: unknown };
    const causes = Array.isArray(e.causes) ? e.causes.filter((c) => c && typeof c === 'object').map((c) => ({ field: String(c.field ?? ''), message: String(c.message ?? '') })) : [];
    throw new CpError(res.status, typeof e.title === 'string' ? e.title : `HTTP ${res.status}`, typeof e.details === 'string' ? e.details : typeof parsed === 'string' ? parsed.slice(0, 500) : '', causes);
  }

  // node:http rather than fetch: fetch refuses some ports outright (the WHATWG "bad
  // ports" list) and hides the network error code users need (ECONNREFUSED, ...).
  private send(method: string, url: URL, payload?: Buffer): Promise<{ status: number; contentType?: string; body: Buffer }> {
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        { method, headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}, timeout: TIMEOUT_MS },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy(new Error(`answer larger than ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: Buffer.concat(chunks) }));
          res.on('error', (err) => reject(new CpUnreachableError(this.baseUrl, err)));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(new CpUnreachableError(this.baseUrl, err)));
      req.end(payload);
    });
  }

  /** GET. */
  get(path: string): Promise<unknown> {
    return this.request('GET', path);
  }

  /** Every item of a Kuma list endpoint, following `next` (bounded). */
  async listAll(path: string): Promise<Record<string, any>[]> {
    const items: Record<string, any>[] = [];
    let next: string | null = `${path}${path.includes('?') ? '&' : '?'}size=1000`;
    for (let page = 0; next && page < 1000; page++) {
      const body = (await this.get(next)) as { items?: unknown; next?: unknown };
      if (!Array.isArray(body?.items)) throw new CpError(200, 'Unexpected answer', `GET ${path} did not return a list`, []);
      items.push(...(body.items as Record<string, any>[]));
      // `next` is an absolute URL as the CP saw us; keep only path and query so we stay on our base URL.
      next = typeof body.next === 'string' && body.next ? pathAndQuery(body.next) : null;
    }
    return items;
  }
}

function pathAndQuery(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}
