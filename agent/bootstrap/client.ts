/**
 * The bootstrap client: POSTs the BootstrapRequest to the CP's DP server and retries
 * until the CP answers. 404 means the CP does not know the dataplane yet (Kuma's
 * answer while the resource is being applied), so it retries, as it does on 5xx and
 * network errors; 400/401/403/409/422 mean the request itself is wrong, so it stops
 * with the CP's words.
 */
import { KumaError } from '../../lib/errors';
import { Backoff, sleep } from '../../lib/backoff';
import type { Logger } from '../../lib/logger';
import { cpRequest, type CpAnswer } from '../cp-client/cp-request';
import { parseBootstrapResponse, type BootstrapRequest, type BootstrapResponse } from './request';

/** The CP refused the request for good (bad token, wrong mesh, invalid resource). */
export class BootstrapRejectedError extends KumaError {
  readonly status: number;
  constructor(status: number, message: string) {
    super('ERR_BOOTSTRAP_REJECTED', message);
    this.status = status;
  }
}

/** Retries ran out (KUMA_CONTROL_PLANE_RETRY_MAX_DURATION). */
export class BootstrapTimeoutError extends KumaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_BOOTSTRAP_TIMEOUT', message, options);
  }
}

/** Options of the client. */
export interface BootstrapClientOptions {
  cpAddress: URL;
  caCertPem?: string;
  /** First retry delay; grows x2 up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs?: number;
  /** Give up after this long. */
  maxDurationMs: number;
  /** Per-request timeout. */
  requestTimeoutMs?: number;
  log: Logger;
  /** Called on every attempt (for metrics). */
  onAttempt?: (outcome: string) => void;
  signal?: AbortSignal;
}

/**
 * Answers that retrying cannot fix: a malformed request (400), a bad or foreign token
 * (401, 403), a write the CP refuses (409: e.g. a zone CP guarding what global owns),
 * an invalid dataplane resource (422).
 */
const REJECTED = new Set([400, 401, 403, 409, 422]);

/** Result of one HTTP exchange. */

/** Fetches the bootstrap, retrying on 404, 5xx and network errors. */
export async function fetchBootstrap(req: BootstrapRequest, o: BootstrapClientOptions): Promise<BootstrapResponse> {
  const backoff = new Backoff({ initialMs: o.backoffMs, maxMs: o.maxBackoffMs ?? Math.max(o.backoffMs, 30_000) });
  const deadline = Date.now() + o.maxDurationMs;
  const url = new URL('/bootstrap', o.cpAddress);
  const body = JSON.stringify(req);
  const log = o.log.child({ mesh: req.mesh || undefined, dataplane: req.name });
  for (let attempt = 1; ; attempt++) {
    let retryReason: string;
    let lastErr: unknown;
    try {
      const res = await postJson(url, body, o);
      if (res.status === 200) {
        o.onAttempt?.('ok');
        try {
          return parseBootstrapResponse(res.body);
        } catch (err) {
          // A malformed answer will not fix itself quickly, but a CP mid-upgrade might: retry.
          retryReason = `invalid bootstrap response: ${(err as Error).message}`;
          o.onAttempt?.('invalid');
        }
      } else if (REJECTED.has(res.status)) {
        o.onAttempt?.(String(res.status));
        throw new BootstrapRejectedError(res.status, `control plane rejected the bootstrap request (HTTP ${res.status}): ${cpMessage(res.body)}`);
      } else if (res.status === 404) {
        o.onAttempt?.('404');
        log.info({ attempt }, 'dataplane not registered yet, retrying');
        retryReason = 'dataplane not registered yet';
      } else {
        o.onAttempt?.(String(res.status));
        retryReason = `HTTP ${res.status}: ${cpMessage(res.body)}`;
      }
    } catch (err) {
      if (err instanceof BootstrapRejectedError) throw err;
      if (o.signal?.aborted) throw err;
      o.onAttempt?.('error');
      lastErr = err;
      retryReason = `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${(err as Error).message}`;
    }
    const delay = backoff.next();
    if (Date.now() + delay > deadline) {
      throw new BootstrapTimeoutError(`could not get a bootstrap from ${o.cpAddress.origin} after ${attempt} attempts: ${retryReason}`, { cause: lastErr });
    }
    if (retryReason !== 'dataplane not registered yet') log.warn({ attempt, reason: retryReason, retryInMs: delay }, 'bootstrap request failed, retrying');
    await sleep(delay, o.signal);
  }
}

/** The CP's message: Kuma's error JSON (`title`, `details`, `message`) or the raw body. */
function cpMessage(body: string): string {
  try {
    const j = JSON.parse(body);
    const parts = [j.title, j.details, j.message, j.detail].filter((x) => typeof x === 'string' && x !== '');
    if (Array.isArray(j.causes)) for (const c of j.causes) parts.push(`${c.field}: ${c.message}`);
    if (Array.isArray(j.invalid_parameters)) for (const c of j.invalid_parameters) parts.push(`${c.field}: ${c.reason}`);
    if (parts.length > 0) return parts.join('; ');
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 2000) || '(empty body)';
}

function postJson(url: URL, body: string, o: BootstrapClientOptions): Promise<CpAnswer> {
  // A bootstrap is a few KB; 16 MiB is far beyond any real one.
  return cpRequest(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body,
    caCertPem: o.caCertPem,
    timeoutMs: o.requestTimeoutMs ?? 10_000,
    maxBytes: 16 * 1024 * 1024,
    what: 'POST /bootstrap',
    signal: o.signal,
  });
}
