/**
 * What the machine was doing while a benchmark ran: the machine is shared, so every
 * result records core count, load averages and the busiest other processes, so that a
 * reader can tell a slow run from a slow program.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

/** The repository root (this file runs from dist/bench/harness). */
const REPO_ROOT = path.resolve(__dirname, '../../..');

/** A command line without this machine's absolute paths (results are committed). */
function scrub(line: string): string {
  // The directories of every absolute path, also inside `--flag=/path`, `file:///path` or quotes.
  return line
    .split(REPO_ROOT)
    .join('.')
    .replace(/file:\/\/\//g, 'file:/')
    .replace(/(?<![\w./])\/(?:[\w.+@-]+\/)+/g, '…/');
}

/** A snapshot of the machine around a measurement. */
export interface RunContext {
  at: string;
  node: string;
  cpus: number;
  cpuModel: string;
  loadavg: number[];
  /** The busiest processes other than the benchmark's own (ps, %CPU since start). */
  busiest: string[];
  /** HEAD of the work tree when the run started (dist/ may also hold uncommitted work). */
  commit: string;
}

/** Samples the machine now. */
export function runContext(): RunContext {
  const ps = spawnSync('ps', ['-eo', 'pid,pcpu,rss,etimes,args', '--sort=-pcpu', '--no-headers'], { encoding: 'utf8' });
  const busiest = (ps.stdout ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.includes(' ps -eo '))
    .slice(0, 6)
    .map(scrub)
    .map((l) => (l.length > 140 ? l.slice(0, 140) + '…' : l));
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' });
  return {
    commit: head.status === 0 ? head.stdout.trim() : 'unknown',
    at: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    busiest,
  };
}
