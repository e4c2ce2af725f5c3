/**
 * Printing and recording benchmark results: a table on stdout and, under
 * bench/results/, `<bench>-<UTC timestamp>.json` (every number) beside `.md` (the table
 * and the run context), so that progress stays visible over time.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RunContext } from './run-context';

/** One table: header row and data rows (already rounded for display). */
export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

/** Where results are written: the source tree's bench/results (this file runs from dist/bench/harness). */
export function resultsDir(): string {
  return path.resolve(__dirname, '../../../bench/results');
}

/** A table as GitHub markdown. */
export function markdownTable(t: Table): string {
  const cell = (v: string | number) => (typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '–') : v);
  const lines = [`| ${t.columns.join(' | ')} |`, `| ${t.columns.map(() => '---').join(' | ')} |`];
  for (const r of t.rows) lines.push(`| ${r.map(cell).join(' | ')} |`);
  return lines.join('\n');
}

/** Prints a table to stdout with aligned columns. */
export function printTable(t: Table): void {
  const cells = [t.columns, ...t.rows.map((r) => r.map((v) => (typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '–') : v)))];
  const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  console.log(`\n${t.title}`);
  for (const [k, r] of cells.entries()) {
    console.log(r.map((v, i) => String(v ?? '').padEnd(widths[i])).join('  '));
    if (k === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

/** What one benchmark run records. */
export interface BenchRecord {
  bench: string;
  /** Parameters of the run (sizes, durations). */
  params: Record<string, unknown>;
  /** Every measured number, machine-readable. */
  data: unknown;
  tables: Table[];
  /** Plain-language verdicts against the issue's targets. */
  verdicts: string[];
  /** Notes: method, caveats. */
  notes: string[];
  context: { before: RunContext; after: RunContext };
}

/** Writes the JSON and markdown files; returns their paths. */
export function writeResults(r: BenchRecord): { json: string; md: string } {
  const dir = resultsDir();
  fs.mkdirSync(dir, { recursive: true });
  const stamp = r.context.before.at.replace(/[:.]/g, '-');
  const base = path.join(dir, `${r.bench}-${stamp}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(r, null, 2) + '\n');
  const md = [
    `# ${r.bench} — ${r.context.before.at}`,
    '',
    `Parameters: ${Object.entries(r.params)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(', ')}`,
    '',
    ...r.tables.flatMap((t) => [`## ${t.title}`, '', markdownTable(t), '']),
    ...(r.verdicts.length ? ['## Against the targets', '', ...r.verdicts.map((v) => `- ${v}`), ''] : []),
    ...(r.notes.length ? ['## Method and caveats', '', ...r.notes.map((n) => `- ${n}`), ''] : []),
    '## Machine',
    '',
    `${r.context.before.cpus} × ${r.context.before.cpuModel}, Node ${r.context.before.node}, commit ${r.context.before.commit} (dist/ as built then).`,
    `Load average before ${r.context.before.loadavg.join(' / ')}, after ${r.context.after.loadavg.join(' / ')}.`,
    '',
    'Busiest processes at the start (pid, %cpu, rss KiB, elapsed s, command):',
    '',
    '```',
    ...r.context.before.busiest,
    '```',
    '',
  ].join('\n');
  fs.writeFileSync(`${base}.md`, md);
  return { json: `${base}.json`, md: `${base}.md` };
}
