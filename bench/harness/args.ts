/**
 * `--key=value` arguments of a benchmark with numeric defaults; an unknown key or a
 * non-numeric value is an error naming the key and what is valid.
 */

/** Parses `--k=v` flags against numeric defaults. */
export function parseArgs<T extends Record<string, number>>(argv: readonly string[], defaults: T): T {
  const out: Record<string, number> = { ...defaults };
  for (const a of argv) {
    const m = /^--([a-z][a-z0-9-]*)=(.*)$/.exec(a);
    if (!m) throw new Error(`argument ${JSON.stringify(a)}: expected --key=value; keys: ${Object.keys(defaults).join(', ')}`);
    if (!(m[1] in defaults)) throw new Error(`unknown argument --${m[1]}; valid: ${Object.keys(defaults).map((k) => `--${k}`).join(', ')}`);
    const v = Number(m[2]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${m[1]}=${m[2]}: expected a non-negative number`);
    out[m[1]] = v;
  }
  return out as T;
}
