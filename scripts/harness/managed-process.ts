/**
 * A child process of the mesh (kuma-cp, kuma-dp, a demo app) started the way a user
 * would start it, whose JSON log lines can be awaited ("API server listening" ->
 * port). Used by the demo and the end-to-end tests. Every process is stopped by its
 * own pid: SIGTERM, then SIGKILL after a grace period. On Linux a child also gets
 * SIGTERM from the kernel when the process that started it dies, however it dies
 * (`kill -9` of the demo, a test runner's timeout), through lib/parent-death.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import readline from 'node:readline';
import { withParentDeathSignal } from '../../lib/parent-death';

/** One parsed log line of a child (pino JSON), or `{ msg: <raw text> }` for other output. */
export type LogLine = Record<string, any> & { msg?: string };

/** How to start a managed process. */
export interface ManagedProcessOptions {
  /** Short name for progress lines, e.g. `zone-1 cp`. */
  name: string;
  /** Executable (usually process.execPath) and its arguments. */
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called for every line the child prints on stdout or stderr. */
  onLine?: (line: LogLine, raw: string) => void;
}

interface Waiter {
  match: (l: LogLine) => boolean;
  resolve: (l: LogLine) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** A running child with log awaiting and pid-scoped shutdown. */
export class ManagedProcess {
  readonly name: string;
  private child?: ChildProcess;
  private readonly lines: LogLine[] = [];
  private waiters: Waiter[] = [];
  private exitInfo?: { code: number | null; signal: NodeJS.Signals | null };

  constructor(private readonly opts: ManagedProcessOptions) {
    this.name = opts.name;
  }

  /** The child's pid (undefined before start). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** True while the child has not exited. */
  get running(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  /** How the child exited, once it has. */
  get exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exitInfo;
  }

  /** Every line seen so far. */
  get log(): readonly LogLine[] {
    return this.lines;
  }

  /** Spawns the child; resolves once it is spawned. */
  async start(): Promise<void> {
    const [command, args] = withParentDeathSignal('TERM', this.opts.command, this.opts.args);
    const child = spawn(command, args, {
      env: this.opts.env ?? process.env,
      cwd: this.opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (raw) => this.onLine(raw));
    }
    child.on('exit', (code, signal) => {
      this.exitInfo = { code, signal };
      const err = new Error(`${this.name} exited (code ${code}, signal ${signal}) before the awaited log line`);
      for (const w of this.waiters) {
        clearTimeout(w.timer);
        w.reject(err);
      }
      this.waiters = [];
    });
    await once(child, 'spawn');
  }

  private onLine(raw: string): void {
    let line: LogLine;
    try {
      const parsed = JSON.parse(raw);
      line = parsed && typeof parsed === 'object' ? parsed : { msg: raw };
    } catch {
      line = { msg: raw };
    }
    this.lines.push(line);
    if (this.lines.length > 5000) this.lines.splice(0, 1000);
    this.opts.onLine?.(line, raw);
    for (const w of [...this.waiters]) {
      if (w.match(line)) {
        clearTimeout(w.timer);
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(line);
      }
    }
  }

  /** Resolves with the first line (already seen or future) that matches; rejects on timeout or exit. */
  waitFor(match: (l: LogLine) => boolean, timeoutMs = 15_000, what = 'log line'): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    if (this.exitInfo) return Promise.reject(new Error(`${this.name} has exited; no ${what}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const w: Waiter = { match, resolve, reject, timer };
      this.waiters.push(w);
    });
  }

  /** Waits for a line with the given `msg` and returns its numeric `port` field. */
  async waitForPort(msg: string, timeoutMs = 15_000): Promise<number> {
    const l = await this.waitFor((x) => x.msg === msg && typeof x.port === 'number', timeoutMs, `"${msg}"`);
    return l.port as number;
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the child is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    const child = this.child;
    if (!child || this.exitInfo) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** SIGKILL now (a crash); resolves when the child is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || this.exitInfo) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}
