/** `-o table|yaml|json` rendering of single resources and lists. */
import YAML from 'yaml';
import { UsageError } from '../../lib/errors';

/** Output formats of get and inspect. */
export type OutputFormat = 'table' | 'yaml' | 'json';

/** Validates `-o`. */
export function outputFormat(raw: string | undefined): OutputFormat {
  const v = raw ?? 'table';
  if (v !== 'table' && v !== 'yaml' && v !== 'json') throw new UsageError(`-o/--output ${JSON.stringify(v)} is not valid; use table, yaml or json`);
  return v;
}

/** YAML or JSON text of any value. */
export function renderStructured(value: unknown, format: 'yaml' | 'json'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) + '\n' : YAML.stringify(value);
}

/** A list as kumactl prints it with -o yaml/json: Kuma's list shape. */
export function listDocument(items: readonly unknown[]): { total: number; items: readonly unknown[]; next: null } {
  return { total: items.length, items, next: null };
}
