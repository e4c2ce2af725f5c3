/**
 * Go-style durations, as Kuma's YAML writes them ("24h", "10m", "1h30m", "500ms", "0s").
 * The grammar is Go's time.ParseDuration: an optional sign, then one or more
 * `<decimal><unit>` pairs, units ns, us (or µs), ms, s, m, h; a bare "0" is allowed.
 * Values are carried as milliseconds (fractional below 1 ms).
 */
import { ValidationError } from '../lib/errors';

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const VALID = 'a number with a unit (ns, us, ms, s, m, h), e.g. "10m", "1h30m", "500ms", "0s"';
// One `<decimal><unit>` pair; the unit alternation lists longer units first so "ms" wins over "m".
const PAIR = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
// Go rejects durations above ~292 years (int64 nanoseconds); so do we.
const MAX_MS = 9_223_372_036_854.775;

/** Explains why `text` is not a valid duration, or returns undefined when it is. */
export function checkDuration(text: unknown): string | undefined {
  if (typeof text !== 'string') return `must be a duration string (${VALID}), got ${JSON.stringify(text)}`;
  return parse(text).error;
}

/** Milliseconds in a Go-style duration; throws ValidationError explaining what is valid. */
export function parseDuration(text: string): number {
  const r = parse(text);
  if (r.error !== undefined) throw new ValidationError('invalid duration', [{ field: '', message: r.error }]);
  return r.ms;
}

function parse(text: string): { ms: number; error?: undefined } | { ms?: undefined; error: string } {
  const bad = { error: `invalid duration ${JSON.stringify(text)}; expected ${VALID}` };
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s[0] === '-' ? -1 : 1;
    s = s.slice(1);
  }
  if (s === '0') return { ms: 0 };
  if (s === '') return bad;
  let total = 0;
  while (s.length > 0) {
    const m = PAIR.exec(s);
    if (!m) return bad;
    total += Number(m[1]) * UNIT_MS[m[2]];
    s = s.slice(m[0].length);
  }
  if (!Number.isFinite(total) || total > MAX_MS) {
    return { error: `invalid duration ${JSON.stringify(text)}; must be at most about 2562047h` };
  }
  return { ms: sign * total };
}

/**
 * The shortest Go-style text for a number of milliseconds, parseable by parseDuration:
 * 5_400_000 -> "1h30m", 500 -> "500ms", 0 -> "0s", 1.5 -> "1.5ms".
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`cannot format duration ${ms}`);
  if (ms === 0) return '0s';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  // Below one second Go prints a single sub-second unit; so do we.
  if (ms < 1000) {
    if (ms >= 1) return `${trim(ms)}ms`;
    if (ms >= 1e-3) return `${trim(ms * 1e3)}us`;
    return `${trim(ms * 1e6)}ns`;
  }
  const h = Math.floor(ms / 3_600_000);
  let rest = ms - h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const secs = rest / 1000;
  let out = '';
  if (h > 0) out += `${h}h`;
  if (m > 0) out += `${m}m`;
  if (secs > 0) out += `${trim(secs)}s`;
  return out;
}

// Rounds away binary noise (0.1 + 0.2) without losing sub-unit precision that matters.
function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}
