/**
 * A small command-line parser in the cobra style kumactl users know: flags may come
 * before or after positionals, as `--flag value`, `--flag=value` or `-f value`; `--`
 * ends flags. Unknown flags are usage errors naming the flag and what is valid.
 */
import { UsageError } from '../lib/errors';

/** One flag a command accepts. */
export interface FlagSpec {
  name: string;
  short?: string;
  /** `bool` flags take no value; `list` flags may repeat. */
  kind: 'string' | 'bool' | 'list';
  help: string;
}

/** Parsed flags and positionals. */
export interface ParsedArgs {
  positionals: string[];
  strings: Record<string, string>;
  bools: Record<string, boolean>;
  lists: Record<string, string[]>;
}

/** Parses argv against the specs; throws UsageError for unknown flags or missing values. */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const out: ParsedArgs = { positionals: [], strings: {}, bools: {}, lists: {} };
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
      spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag --${name}; valid flags: ${specs.map((s) => `--${s.name}`).join(', ')}`);
    } else if (arg.startsWith('-') && arg.length > 1 && arg !== '-') {
      const name = arg.slice(1, 2);
      inline = arg.length > 2 ? arg.slice(2).replace(/^=/, '') : undefined;
      spec = byShort.get(name);
      if (!spec) throw new UsageError(`unknown flag -${name}; valid flags: ${specs.map((s) => (s.short ? `-${s.short}/--${s.name}` : `--${s.name}`)).join(', ')}`);
    } else {
      out.positionals.push(arg);
      continue;
    }
    if (spec.kind === 'bool') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') throw new UsageError(`flag --${spec.name} is true or false, got ${JSON.stringify(inline)}`);
      out.bools[spec.name] = inline !== 'false';
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`flag --${spec.name} needs a value (${spec.help})`);
    if (spec.kind === 'list') (out.lists[spec.name] ??= []).push(value);
    else out.strings[spec.name] = value;
  }
  return out;
}

/** Help lines for a list of flags. */
export function flagsHelp(specs: readonly FlagSpec[]): string {
  return specs
    .map((s) => `  ${(s.short ? `-${s.short}, ` : '    ') + `--${s.name}${s.kind === 'bool' ? '' : ' VALUE'}`}`.padEnd(34) + s.help)
    .join('\n');
}
