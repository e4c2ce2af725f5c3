/** Process helpers for kuma-dp tests: liveness by pid (zombies count as gone) and polling. */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { Readable } from 'node:stream';

/** True while the pid exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Polls `cond` every 20 ms until it holds or `ms` pass; returns whether it held. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

/** Kills a pid if it still runs (teardown). */
export function killIfAlive(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

/**
 * The child's exit, after what it wrote is read. 'exit' can come before the last chunks
 * of its stdout/stderr pipes are delivered, so a test that reads the output at 'exit'
 * may see it cut short. 'close' waits for the pipes, but also for any grandchild that
 * inherited them; so this waits for 'exit', then for the pipes to end, at most `graceMs`.
 */
export function exitedWithOutput(
  child: ChildProcess,
  graceMs = 2_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const ended = (s: Readable | null) =>
    s === null || s.readableEnded || s.destroyed ? Promise.resolve() : new Promise<void>((r) => (s.once('end', r), s.once('close', r)));
  const pipes = Promise.all([ended(child.stdout), ended(child.stderr)]);
  return new Promise((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
      void Promise.race([pipes, grace]).then(() => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    };
    if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode, child.signalCode);
    else child.once('exit', done);
  });
}
