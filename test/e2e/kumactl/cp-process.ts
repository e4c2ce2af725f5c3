/**
 * Helpers of the kumactl end-to-end tests: the compiled binaries, a temp dir with a
 * work dir and HOME, kuma-cp started the way a user starts it (ports picked by the OS
 * and read from the "API server listening" line) and kumactl runs with bounded time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ManagedProcess } from '../../../scripts/harness/managed-process';
import { loopbackCpEnv } from '../../../scripts/harness/cp-env';

export const dist = path.resolve(__dirname, '../../..');
export const repo = path.resolve(dist, '..');
export const CP = path.join(dist, 'cp/main.js');
export const KUMACTL = path.join(dist, 'kumactl/main.js');
export const example = (name: string) => path.join(repo, 'examples', name);

/** A fresh temp dir with `work` and `home`; removed in teardown. */
export function tempDirs(tt: { teardown(fn: () => unknown): void }): { tmp: string; workDir: string; home: string } {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kumactl-e2e-'));
  const workDir = path.join(tmp, 'work');
  const home = path.join(tmp, 'home');
  fs.mkdirSync(home);
  tt.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  dirs = { tmp, workDir, home };
  return dirs;
}

let dirs: { tmp: string; workDir: string; home: string } = { tmp: '', workDir: '', home: '' };

/** kuma-cp's environment: standalone, loopback, every port 0, the temp work dir and HOME. */
export function cpEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // kumactl's config lives in HOME, apart from the CP's work dir.
  return { PATH: process.env.PATH, ...loopbackCpEnv(dirs.workDir), HOME: dirs.home, KUMA_MODE: 'standalone', ...extra };
}

/** Starts kuma-cp and returns it with its API port; stopped by pid in teardown. */
export async function startCp(tt: { teardown(fn: () => unknown): void }, extra: Record<string, string> = {}) {
  const cp = new ManagedProcess({ name: 'kuma-cp', command: process.execPath, args: [CP, 'run'], env: cpEnv(extra) });
  tt.teardown(() => cp.stop(2000));
  await cp.start();
  const port = await cp.waitForPort('API server listening', 20_000);
  return { cp, port, address: `http://127.0.0.1:${port}` };
}

/** Outcome of a finished process. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a binary to completion (bounded by a timeout) and collects its output. */
export function run(script: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env: opts.env ?? { PATH: process.env.PATH, HOME: dirs.home }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** kumactl with --cp-address. */
export const kumactl = (address: string, ...args: string[]) => run(KUMACTL, ['--cp-address', address, ...args]);

/** Every user-visible resource, as the REST API lists it, for before/after comparisons (plain HTTP: no process per call). */
export async function snapshot(address: string): Promise<string> {
  const parts: string[] = [];
  for (const p of ['/meshes', '/dataplanes', '/traffic-routes', '/traffic-permissions', '/zoneingresses', '/secrets']) {
    const res = await fetch(address + p + '?size=1000', { signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`GET ${p}: ${res.status}`);
    parts.push(await res.text());
  }
  return parts.join('\n');
}
