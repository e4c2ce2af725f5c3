/** Runs the compiled kuma-dp binary the way an operator does, and reads its JSON log lines. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freeUdpTcpPort } from './ports';
import { exitedWithOutput, waitFor } from './proc';

/** Path of the compiled entry point, from dist/test/integration/agent/support/. */
export const KUMA_DP = path.resolve(__dirname, '../../../../agent/main.js');
/** The fake Envoy executable (committed with mode 100755). */
export const FAKE_ENVOY = path.resolve(__dirname, '../../../../../test/fixtures/fake-envoy/envoy');

/**
 * The starts the fake Envoy recorded in its FAKE_ENVOY_ARGV_FILE, oldest first; none while
 * the file is absent. Only complete lines count: the fake creates the file before it writes
 * its line, and a poll in between (a loaded machine deschedules the fake there) read "" and
 * failed the SIGKILL test of kuma-dp-run with "Unexpected end of JSON input".
 */
export function fakeEnvoyStarts(argvFile: string): { pid: number; argv: string[] }[] {
  let text: string;
  try {
    text = fs.readFileSync(argvFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => JSON.parse(line));
}

/** A running kuma-dp. */
export class KumaDpProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [KUMA_DP, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.stdout += d));
    this.child.stderr!.on('data', (d) => (this.stderr += d));
    // Resolves once what kuma-dp wrote is read too: tests read stderr right after.
    this.exited = exitedWithOutput(this.child);
  }

  /** Parsed JSON log lines (stderr). */
  logs(): any[] {
    return this.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return {};
        }
      });
  }

  /** Waits for a log line with this msg; returns it. */
  async waitLog(msg: string, ms = 10_000): Promise<any> {
    let found: any;
    await waitFor(() => (found = this.logs().find((l) => l.msg === msg)) !== undefined || this.child.exitCode !== null, ms);
    if (!found) throw new Error(`no "${msg}" log line within ${ms} ms; stderr:\n${this.stderr.slice(-3000)}`);
    return found;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    try {
      this.child.kill(signal);
    } catch {
      // gone
    }
  }
}

/**
 * Starts kuma-dp (`startOn`) with its DNS proxy on a port free for UDP and TCP a moment ago,
 * and again on another port when that one was taken in between (other test files bind
 * ports in parallel): kuma-dp then exits at start-up with ERR_PORT_IN_USE, before it asks
 * the CP for anything. Resolves once DNS listens; `ms` bounds each wait for that.
 */
export async function onFreeDnsPort<T extends { p: KumaDpProcess }>(startOn: (dnsPort: number) => T, o: { ms?: number; tries?: number } = {}): Promise<T & { dnsPort: number }> {
  for (let i = 1; ; i++) {
    const dnsPort = await freeUdpTcpPort();
    const started = startOn(dnsPort);
    const { p } = started;
    try {
      await p.waitLog('DNS server listening', o.ms);
      return { ...started, dnsPort };
    } catch (err) {
      // 'exit' can come before the last stderr chunk is read, hence the short wait for the code.
      const clash = p.child.exitCode !== null && (await waitFor(() => p.stderr.includes('[ERR_PORT_IN_USE]'), 2000));
      if (!clash || i >= (o.tries ?? 5)) throw err;
    }
  }
}

/** GET on 127.0.0.1:port; resolves status and body. */
export function httpGet(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, timeout: 3000, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}
