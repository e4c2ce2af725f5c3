/**
 * The REST client kumactl talks to kuma-cp with (fetch, bounded by a timeout). CP
 * errors become CpError carrying Kuma's `{title, details, causes}` so they print
 * readably; network failures become CpUnreachableError naming the address.
 */
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
    const why = (cause as { cause?: { code?: string } })?.cause?.code ?? (cause as Error)?.name ?? 'error';
    super('ERR_CP_UNREACHABLE', `could not reach the control plane at ${url} (${why}); check --cp-address or kumactl config control-planes`, { cause });
  }
}

/** Per-request timeout. */
const TIMEOUT_MS = 30_000;

/** A thin client of one CP's REST API. */
export class ApiClient {
  constructor(readonly baseUrl: string) {}

  /** Sends a request; returns the parsed JSON (or text) body of a 2xx answer, throws CpError otherwise. */
  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = this.baseUrl.replace(/\/+$/, '') + path;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: body !== undefined ? { 'content-type': 'application/json' } : {},
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw new CpUnreachableError(this.baseUrl, err);
    }
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (res.ok) return parsed;
    const e = (parsed && typeof parsed === 'object' ? parsed : {}) as { title?: unknown; details?: unknown; causes?: unknown };
    const causes = Array.isArray(e.causes) ? e.causes.filter((c) => c && typeof c === 'object').map((c) => ({ field: String(c.field ?? ''), message: String(c.message ?? '') })) : [];
    throw new CpError(res.status, typeof e.title === 'string' ? e.title : `HTTP ${res.status}`, typeof e.details === 'string' ? e.details : typeof parsed === 'string' ? parsed.slice(0, 500) : '', causes);
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
