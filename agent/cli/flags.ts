/**
 * A small table-driven command-line parser: `--flag=value`, `--flag value`, `-x value`,
 * boolean flags, repeatable flags, and everything after `--` kept verbatim. Pure: it
 * never reads files or binds anything; errors are UsageErrors naming the flag.
 */
import { UsageError } from '../../lib/errors';

/** One flag a command accepts. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `cp-address`. */
  name: string;
  /** Other long names accepted for the same flag. */
  aliases?: string[];
  /** One-letter short name, e.g. `d`. */
  short?: string;
  /** `bool` flags take no separate value (`--x`, `--x=false`). */
  kind: 'string' | 'bool';
  /** May be given more than once (values collected in order). */
  repeatable?: boolean;
  /** Placeholder and description for --help. */
  valueName?: string;
  help: string;
  /** Omitted from --help (kept for compatibility). */
  hidden?: boolean;
}

/** What the parser found. */
export interface ParsedArgs {
  /** Canonical flag name -> last value (or every value for repeatable flags). */
  values: Map<string, string | string[]>;
  /** Positional arguments before `--`. */
  positional: string[];
  /** Everything after `--`, untouched. */
  passthrough: string[];
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** Parses a boolean flag or env value; throws UsageError naming `what` otherwise. */
export function parseBool(what: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new UsageError(`${what}: invalid boolean "${value}"; valid: true or false`);
}

/** Parses argv against the specs; throws UsageError on unknown flags or missing values. */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const s of specs) {
    byLong.set(s.name, s);
    for (const a of s.aliases ?? []) byLong.set(a, s);
    if (s.short) byShort.set(s.short, s);
  }
  const values = new Map<string, string | string[]>();
  const positional: string[] = [];
  let passthrough: string[] = [];
  const set = (spec: FlagSpec, value: string) => {
    if (spec.kind === 'bool') parseBool(`--${spec.name}`, value);
    if (spec.repeatable) {
      const prev = values.get(spec.name);
      values.set(spec.name, [...(Array.isArray(prev) ? prev : []), value]);
    } else {
      values.set(spec.name, value);
    }
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      passthrough = argv.slice(i + 1);
      break;
    }
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    let shown: string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
      spec = byLong.get(name);
      shown = `--${name}`;
      if (!spec) throw new UsageError(`unknown flag ${shown}${suggest(name, specs)}; see kuma-dp run --help`);
    } else if (arg.startsWith('-') && arg.length > 1) {
      const name = arg.slice(1, 2);
      inline = arg.length > 2 ? arg.slice(2).replace(/^=/, '') : undefined;
      spec = byShort.get(name);
      shown = `-${name}`;
      if (!spec) throw new UsageError(`unknown flag ${shown}; see kuma-dp run --help`);
    } else {
      positional.push(arg);
      continue;
    }
    if (spec.kind === 'bool') {
      set(spec, inline ?? 'true');
      continue;
    }
    if (inline === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`flag ${shown} needs a value (${spec.valueName ?? 'value'})`);
      inline = argv[++i];
    }
    set(spec, inline);
  }
  return { values, positional, passthrough };
}

/** ` (did you mean --x?)` when a known flag is one edit or a prefix away. */
function suggest(name: string, specs: readonly FlagSpec[]): string {
  const names = specs.flatMap((s) => [s.name, ...(s.aliases ?? [])]);
  const close = names.find((n) => n.startsWith(name) || name.startsWith(n) || editDistance(n, name) <= 2);
  return close ? ` (did you mean --${close}?)` : '';
}

function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** Renders the flag table for --help, sorted by name. */
export function formatFlagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs
    .filter((s) => !s.hidden)
    .map((s) => {
      const left = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.kind === 'bool' ? '' : ` ${s.valueName ?? 'string'}`}`;
      const aliases = s.aliases?.length ? ` (also ${s.aliases.map((a) => `--${a}`).join(', ')})` : '';
      return [left, s.help + aliases] as const;
    })
    .sort((a, b) => a[0].trim().replace(/^-., /, '').localeCompare(b[0].trim().replace(/^-., /, '')));
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([l, h]) => `  ${l.padEnd(width)}${h}`).join('\n');
}
