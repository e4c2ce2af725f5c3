/**
 * The Envoy engine: runs Envoy as a child in its own process group, watches it,
 * drains it through the admin API on shutdown and stops it with a deadline. kuma-dp
 * owns the whole group, so nothing Envoy forks outlives kuma-dp (the group is
 * SIGKILLed when kuma-dp exits, also on an uncaught error).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import pidusage from 'pidusage';
import { Backoff, sleep } from '../../lib/backoff';
import type { EngineOptions, ProxyEngine } from '../engine/engine';
import { envoyArgs } from './args';
import { adminHostOf, adminPortOf } from '../bootstrap/request';
import { withParentDeathSignal } from '../../lib/parent-death';

/** EnvoyEngine's options beyond the shared EngineOptions. */
export interface EnvoyEngineOptions extends EngineOptions {
  binaryPath: string;
  /** `on-failure`: restart Envoy with capped backoff when it exits non-zero. */
  restartPolicy: 'never' | 'on-failure';
  /** After SIGTERM, how long Envoy may take before SIGKILL. */
  stopTimeoutMs: number;
  /** Restart backoff; default 1s doubling to 30s. */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** How often the admin /ready is probed; default 1s. */
  readyPollMs?: number;
  /** Kill Envoy when kuma-dp dies, even by SIGKILL (needs util-linux setpriv); default true. */
  parentDeathSignal?: boolean;
}

/** Runs and supervises one Envoy process. */
export class EnvoyEngine extends EventEmitter implements ProxyEngine {
  readonly kind = 'envoy' as const;
  readonly name = 'envoy';
  private child?: ChildProcess;
  private stopping = false;
  private ready = false;
  private restarts = 0;
  private readonly backoff: Backoff;
  private readyTimer?: NodeJS.Timeout;
  private exited?: Promise<void>;
  private readonly adminPort?: number;
  private readonly adminHost: string;
  private readonly killOnExit = () => this.killGroup('SIGKILL');

  constructor(private readonly o: EnvoyEngineOptions) {
    super();
    this.backoff = new Backoff(o.restartBackoff ?? { initialMs: 1000, maxMs: 30_000 });
    this.adminPort = adminPortOf(o.bootstrap);
    this.adminHost = adminHostOf(o.bootstrap);
  }

  /** The argv Envoy runs with (without the binary). */
  get argv(): string[] {
    return envoyArgs({
      configPath: this.o.bootstrapPath,
      drainTimeMs: this.o.drainTimeMs,
      logLevel: this.o.logLevel,
      concurrency: this.o.concurrency,
      extraArgs: this.o.extraArgs,
    });
  }

  /** The current Envoy pid, if running. */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  async start(): Promise<void> {
    process.on('exit', this.killOnExit);
    await this.spawnOnce();
    this.readyTimer = setInterval(() => void this.probeReady(), this.o.readyPollMs ?? 1000);
    this.readyTimer.unref();
    void this.probeReady();
  }

  private spawnOnce(): Promise<void> {
    return new Promise((resolve, reject) => {
      const argv = this.argv;
      this.o.log.info({ binary: this.o.binaryPath, argv, restarts: this.restarts }, 'starting Envoy');
      // detached: Envoy leads a new process group (setsid), so one kill(-pgid) reaches
      // everything it starts, and a Ctrl-C on kuma-dp's terminal is handled by kuma-dp alone.
      try {
        fs.accessSync(this.o.binaryPath, fs.constants.X_OK);
      } catch (err) {
        reject(new Error(`cannot start Envoy "${this.o.binaryPath}": ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err }));
        return;
      }
      // Through setpriv --pdeathsig (prctl PR_SET_PDEATHSIG, kept across exec) the kernel
      // kills Envoy even when kuma-dp itself is SIGKILLed and cannot clean up; the pid and
      // argv Envoy sees are unchanged, since setpriv execs it.
      const [file, args] = this.o.parentDeathSignal === false ? [this.o.binaryPath, argv] : withParentDeathSignal('KILL', this.o.binaryPath, argv);
      const child = spawn(file, args, { detached: true, stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
      this.child = child;
      let started = false;
      child.once('spawn', () => {
        started = true;
        this.o.log.info({ pid: child.pid }, 'Envoy started');
        resolve();
      });
      child.once('error', (err) => {
        if (!started) reject(new Error(`cannot start Envoy "${this.o.binaryPath}": ${err.message}`, { cause: err }));
      });
      const startedAt = Date.now();
      this.exited = new Promise((done) => {
        child.once('exit', (code, signal) => {
          // Whatever Envoy left in its group goes with it.
          this.killGroup('SIGKILL', child.pid);
          this.ready = false;
          done();
          if (!started) return;
          this.onExit(code, signal, Date.now() - startedAt);
        });
      });
    });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, ranMs: number): void {
    if (this.stopping) {
      this.o.log.info({ code, signal }, 'Envoy stopped');
      return;
    }
    const failed = code !== 0;
    if (failed && this.o.restartPolicy === 'on-failure') {
      // A run that lasted a while was healthy: start the backoff over.
      if (ranMs > 60_000) this.backoff.reset();
      const delay = this.backoff.next();
      this.restarts++;
      this.o.log.warn({ code, signal, restartInMs: delay, restarts: this.restarts }, 'Envoy exited unexpectedly; restarting');
      setTimeout(() => {
        if (this.stopping) return;
        this.spawnOnce().catch((err) => {
          this.o.log.error({ err }, 'Envoy restart failed');
          this.emit('exit', 1, null);
        });
      }, delay);
      return;
    }
    this.o.log.error({ code, signal }, 'Envoy exited unexpectedly');
    this.emit('exit', code, signal);
  }

  isReady(): boolean {
    return this.ready;
  }

  /** Asks Envoy to drain inbound listeners gracefully, then waits the drain time (or Envoy's exit). */
  async drain(): Promise<void> {
    if (this.pid === undefined) return;
    if (this.adminPort !== undefined) {
      try {
        const r = await adminRequest(this.adminHost, this.adminPort, 'POST', '/drain_listeners?inboundonly&graceful', 2000);
        this.o.log.info({ status: r.status }, 'Envoy draining listeners');
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, 'could not ask Envoy to drain; waiting the drain time anyway');
      }
    }
    await Promise.race([sleep(this.o.drainTimeMs), this.exited]);
  }

  /** SIGTERM to the group; SIGKILL past the stop timeout. */
  async close(): Promise<void> {
    this.stopping = true;
    clearInterval(this.readyTimer);
    if (this.pid !== undefined) {
      this.killGroup('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.exited!.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.o.stopTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.o.log.warn({ pid: this.child?.pid, timeoutMs: this.o.stopTimeoutMs }, 'Envoy did not stop in time; sending SIGKILL');
        this.killGroup('SIGKILL');
        await Promise.race([this.exited, sleep(2000)]);
      }
    }
    process.removeListener('exit', this.killOnExit);
    if (this.child?.pid !== undefined) pidusage.clear();
  }

  destroy(): void {
    this.stopping = true;
    clearInterval(this.readyTimer);
    this.killGroup('SIGKILL');
    process.removeListener('exit', this.killOnExit);
  }

  /** Envoy process stats (pidusage) plus Envoy's own /stats/prometheus when reachable. */
  async metrics(): Promise<string> {
    const lines: string[] = [
      '# HELP kuma_dp_envoy_up 1 while the Envoy process runs.',
      '# TYPE kuma_dp_envoy_up gauge',
      `kuma_dp_envoy_up ${this.pid !== undefined ? 1 : 0}`,
      '# HELP kuma_dp_envoy_restarts_total Envoy restarts under --restart-policy=on-failure.',
      '# TYPE kuma_dp_envoy_restarts_total counter',
      `kuma_dp_envoy_restarts_total ${this.restarts}`,
    ];
    const pid = this.pid;
    if (pid !== undefined) {
      try {
        const s = await pidusage(pid);
        lines.push(
          '# HELP kuma_dp_envoy_process_cpu_seconds_total CPU time of the Envoy process.',
          '# TYPE kuma_dp_envoy_process_cpu_seconds_total counter',
          `kuma_dp_envoy_process_cpu_seconds_total ${(s.ctime / 1000).toFixed(3)}`,
          '# HELP kuma_dp_envoy_process_cpu_percent CPU use of the Envoy process since the last sample.',
          '# TYPE kuma_dp_envoy_process_cpu_percent gauge',
          `kuma_dp_envoy_process_cpu_percent ${s.cpu.toFixed(2)}`,
          '# HELP kuma_dp_envoy_process_resident_memory_bytes RSS of the Envoy process.',
          '# TYPE kuma_dp_envoy_process_resident_memory_bytes gauge',
          `kuma_dp_envoy_process_resident_memory_bytes ${s.memory}`,
        );
      } catch {
        // the process went away between the check and the sample
      }
      if (this.adminPort !== undefined) {
        try {
          const r = await adminRequest(this.adminHost, this.adminPort, 'GET', '/stats/prometheus', 1000);
          if (r.status === 200) lines.push(r.body.trimEnd());
        } catch {
          // admin not up (yet): process stats only
        }
      }
    }
    return lines.join('\n') + '\n';
  }

  private async probeReady(): Promise<void> {
    if (this.pid === undefined) {
      this.ready = false;
      return;
    }
    if (this.adminPort === undefined) {
      this.ready = true;
      return;
    }
    try {
      const r = await adminRequest(this.adminHost, this.adminPort, 'GET', '/ready', 1000);
      this.ready = r.status === 200 && this.pid !== undefined;
    } catch {
      this.ready = false;
    }
  }

  private killGroup(signal: NodeJS.Signals, pid = this.child?.pid): void {
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already gone
    }
  }
}

function adminRequest(host: string, port: number, method: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('admin request timed out')));
    req.on('error', reject);
    req.end();
  });
}
