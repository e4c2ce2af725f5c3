/**
 * Capped exponential backoff with full jitter, used for reconnects (ADS, KDS) and
 * retries (bootstrap). Pure apart from the random source, which tests can replace.
 */
export interface BackoffOptions {
  /** First delay in ms. */
  initialMs: number;
  /** Upper bound for any delay in ms. */
  maxMs: number;
  /** Growth factor per attempt; default 2. */
  factor?: number;
  /** Random source in [0,1); default Math.random. */
  random?: () => number;
}

/** Produces successive delays; `reset()` after a success. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions) {}
  /** The next delay: a random value in [cap/2, cap] where cap grows exponentially up to maxMs. */
  next(): number {
    const factor = this.opts.factor ?? 2;
    const cap = Math.min(this.opts.maxMs, this.opts.initialMs * factor ** this.attempt);
    this.attempt++;
    const rnd = (this.opts.random ?? Math.random)();
    return Math.round(cap / 2 + (cap / 2) * rnd);
  }
  /** Starts over from the initial delay. */
  reset(): void {
    this.attempt = 0;
  }
  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }
}

/** Resolves after `ms`, or rejects early when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
