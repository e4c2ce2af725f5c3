/**
 * The tests' side of store-writer.js: a `race` writer process with a line-oriented
 * request/response helper, and the optimistic-concurrency race both SQL engines run.
 */
import path from 'node:path';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { ResourceStore } from '../../../cp/store/store';

/** The writer child's script. */
export const WRITER = path.join(__dirname, 'store-writer.js');

type Teardown = { teardown(fn: () => unknown): void };

/** Starts `store-writer <engine> race <where>`; stopped by pid in teardown. */
export async function racer(t: Teardown, engine: 'sqlite' | 'postgres', where: string) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [WRITER, engine, 'race', where]);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  let buf = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const next = async (): Promise<string> => {
    const deadline = Date.now() + 10_000;
    while (lines.length === 0) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`racer gave no answer: ${err}`);
      await new Promise((r) => setTimeout(r, 2));
    }
    return lines.shift()!;
  };
  if ((await next()) !== 'ready') throw new Error('racer not ready');
  return { child, next, send: (line: string) => child.stdin.write(`${line}\n`) };
}

/** Assertions the race needs (a tap Test). */
interface RaceAsserts {
  same(found: unknown, wanted: unknown, message: string): unknown;
  equal(found: unknown, wanted: unknown, message: string): unknown;
  comment(message: string): unknown;
}

/**
 * `rounds` times: two writer processes update one key with the same expectedVersion;
 * exactly one must win, and the store must hold the winner's value and version.
 */
export async function raceRounds(t: RaceAsserts, store: ResourceStore, a: Awaited<ReturnType<typeof racer>>, b: Awaited<ReturnType<typeof racer>>, rounds: number): Promise<void> {
  const wins = { a: 0, b: 0 };
  for (let round = 0; round < rounds; round++) {
    const base = await store.upsert({ type: 'Config', name: 'contended', spec: { config: `base-${round}` } });
    a.send(`contended ${base.meta.version} a-${round}`);
    b.send(`contended ${base.meta.version} b-${round}`);
    const [ra, rb] = await Promise.all([a.next(), b.next()]);
    const outcome = [ra.split(' ')[0], rb.split(' ')[0]].sort();
    t.same(outcome, ['conflict', 'ok'], `round ${round}: ${ra} / ${rb}`);
    const winner = ra.startsWith('ok') ? 'a' : 'b';
    wins[winner]++;
    const stored = await store.get('Config', { name: 'contended' });
    t.equal(stored!.spec.config, `${winner}-${round}`, "the stored value is the winner's");
    t.equal(stored!.meta.version, (winner === 'a' ? ra : rb).split(' ')[1], "with the winner's version");
  }
  t.comment(`wins: a=${wins.a} b=${wins.b}`);
  a.child.stdin.end();
  b.child.stdin.end();
}
