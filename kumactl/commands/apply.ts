/**
 * `kumactl apply -f FILE|- [--var key=value ...]`: every document of the file is sent
 * in one request to the CP's transactional `POST /_apply`, so either all are applied or
 * none is; every problem is printed with its document (`document[i]`, from 0) and field.
 */
import fs from 'node:fs';
import { UsageError, ValidationError, type FieldViolation } from '../../lib/errors';
import { parseResourceDocuments } from '../../api/yaml';
import type { ResourceInput } from '../../api/resource';
import { CpError } from '../api-client';
import type { Command } from './context';

/** Largest file apply reads: the CP refuses bodies over 1 MiB anyway. */
const MAX_FILE_BYTES = 1024 * 1024;

/** Parses `--var key=value` flags. */
export function parseVars(raw: readonly string[]): Map<string, string> {
  const vars = new Map<string, string>();
  for (const r of raw) {
    const eq = r.indexOf('=');
    if (eq <= 0) throw new UsageError(`--var ${JSON.stringify(r)} must look like key=value`);
    vars.set(r.slice(0, eq), r.slice(eq + 1));
  }
  return vars;
}

/** Replaces `{{ key }}` placeholders (Kuma's `--var` syntax); an unset placeholder is a usage error. */
export function substituteVars(text: string, vars: Map<string, string>): string {
  const missing = new Set<string>();
  const out = text.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (_m, key: string) => {
    const v = vars.get(key);
    if (v === undefined) missing.add(key);
    return v ?? '';
  });
  if (missing.size > 0) throw new UsageError(`the file uses ${[...missing].sort().map((k) => `{{ ${k} }}`).join(', ')} but no --var ${[...missing].sort()[0]}=VALUE was given`);
  return out;
}

/** Kuma's flat form of an input, as the REST API takes it. */
function toFlat(input: ResourceInput): Record<string, unknown> {
  return {
    type: input.type,
    ...(input.mesh !== undefined ? { mesh: input.mesh } : {}),
    name: input.name,
    ...(input.labels !== undefined ? { labels: input.labels } : {}),
    ...input.spec,
  };
}

/** Prints violations one per line: `  document[1].networking.address: must be a string`. */
export function printViolations(err: (s: string) => void, title: string, violations: readonly FieldViolation[]): void {
  err(`Error: ${title}\n`);
  for (const v of violations) err(`  ${v.field ? `${v.field}: ` : ''}${v.message}\n`);
}

async function readInput(file: string, readStdin: () => Promise<string>): Promise<string> {
  if (file === '-') return readStdin();
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new UsageError(`cannot read -f ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (!st.isFile()) throw new UsageError(`-f ${file} is not a regular file`);
  if (st.size > MAX_FILE_BYTES) throw new UsageError(`-f ${file} is ${st.size} bytes; at most ${MAX_FILE_BYTES} are accepted`);
  return fs.readFileSync(file, 'utf8');
}

/** Applies every document of the file atomically. */
export const applyCommand: Command = async (ctx) => {
  if (ctx.args.positionals.length > 0) throw new UsageError(`apply takes no arguments (use -f FILE), got ${JSON.stringify(ctx.args.positionals.join(' '))}`);
  const file = ctx.args.strings.file;
  if (!file) throw new UsageError('apply needs -f FILE (or -f - for stdin)');
  const text = substituteVars(await readInput(file, ctx.readStdin), parseVars(ctx.args.lists.var ?? []));
  let inputs: ResourceInput[];
  try {
    inputs = parseResourceDocuments(text);
  } catch (err) {
    if (err instanceof ValidationError) {
      printViolations(ctx.err, `${file} is not valid; nothing was applied`, err.violations);
      return 1;
    }
    throw err;
  }
  if (inputs.length === 0) throw new UsageError(`${file} holds no documents`);
  let answer: { results?: { type: string; name: string; mesh?: string; status: string }[] };
  try {
    answer = (await ctx.client().request('POST', '/_apply', { resources: inputs.map(toFlat) })) as typeof answer;
  } catch (err) {
    if (err instanceof CpError && err.causes.length > 0) {
      // The CP numbers documents `resources[i]` in the order sent, which is the file's order.
      const causes = err.causes.map((c) => ({ field: c.field.replace(/^resources\[(\d+)\]/, 'document[$1]'), message: c.message }));
      printViolations(ctx.err, `${err.details || err.title}; nothing was applied`, causes);
      return 1;
    }
    throw err;
  }
  for (const r of answer.results ?? []) ctx.out(`${r.status} ${r.type} "${r.mesh !== undefined ? `${r.mesh}/` : ''}${r.name}"\n`);
  return 0;
};
