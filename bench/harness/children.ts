/**
 * Child processes of a benchmark: spawned (optionally pinned to a core with taskset),
 * their output collected, and stopped by their own pid — SIGTERM, then SIGKILL after a
 * grace period — including when the benchmark itself fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';

/** A spawned child with its output lines. */
export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  lines: string[];
  /** Resolves with the first line matching `re` (rejects on exit or timeout). */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Like waitForLine, but only lines printed from now on count. */
  nextLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the child has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<Child>();

/** Spawns `command args`; with `core`, under `taskset -c core`. */
export function startChild(name: string, command: string, args: string[], o: { core?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Child {
  const [cmd, argv] = o.core === undefined ? [command, args] : ['taskset', ['-c', String(o.core), command, ...args]];
  // taskset execs the command, so the pid is the command's own.
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env, cwd: o.cwd });
  if (proc.pid === undefined) throw new Error(`${name}: spawn failed`);
  const lines: string[] = [];
  const listeners = new Set<(l: string) => void>();
  for (const s of [proc.stdout!, proc.stderr!]) {
    readline.createInterface({ input: s }).on('line', (l) => {
      if (lines.length < 10_000) lines.push(l);
      for (const f of listeners) f(l);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    lines,
    exited,
    waitForLine(re, timeoutMs = 15_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return child.nextLine(re, timeoutMs);
    },
    nextLine(re, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`${name}: no line matching ${re} within ${timeoutMs} ms; last: ${lines.slice(-5).join(' | ')}`)), timeoutMs);
        const f = (l: string) => re.test(l) && done(undefined, l);
        const done = (err?: Error, l?: string) => {
          clearTimeout(timer);
          listeners.delete(f);
          if (err) reject(err);
          else resolve(l!);
        };
        listeners.add(f);
        void exited.then((e) => done(new Error(`${name} exited (${e.code ?? e.signal}) before a line matching ${re}; last: ${lines.slice(-5).join(' | ')}`)));
      });
    },
  };
  live.add(child);
  void exited.then(() => live.delete(child));
  return child;
}

/** Stops one child by pid: SIGTERM, SIGKILL after `graceMs`. */
export async function stopChild(c: Child, graceMs = 3000): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  await c.exited;
  clearTimeout(timer);
}

/** Stops every child still running (for finally blocks and signal handlers). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c)));
}

/** Runs a command to completion and returns its output (bounded by `timeoutMs`). */
export function runToEnd(command: string, args: string[], o: { core?: number; timeoutMs: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, argv] = o.core === undefined ? [command, args] : ['taskset', ['-c', String(o.core), command, ...args]];
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout!.on('data', (b: Buffer) => out.push(b));
    p.stderr!.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Makes SIGINT/SIGTERM of the benchmark stop its children first. */
export function stopChildrenOnSignal(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void stopAllChildren().finally(() => process.exit(130));
    });
  }
}
