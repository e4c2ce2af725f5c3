/**
 * Summary statistics for benchmark samples. Percentiles use the nearest-rank method
 * (the value at rank ceil(p/100 * n)), so every reported number is an observed sample.
 */

/** The p-th percentile (0 < p <= 100) of `samples` by nearest rank; NaN when empty. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** The median (nearest rank, lower middle for even counts). */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** p50, p90, p99 and max of a sample set. */
export function summary(samples: readonly number[]): { n: number; p50: number; p90: number; p99: number; max: number } {
  return { n: samples.length, p50: percentile(samples, 50), p90: percentile(samples, 90), p99: percentile(samples, 99), max: percentile(samples, 100) };
}

/** Rounds for display: 3 significant digits below 100, integers above. */
export function round(x: number): number {
  if (!Number.isFinite(x)) return x;
  if (Math.abs(x) >= 100) return Math.round(x);
  return Number(x.toPrecision(3));
}
