/**
 * Helpers of the multi-zone e2e tests: start `kuma-cp run` (the compiled binary) in a
 * temp work dir with every port 0, read its ports from its log, call its REST API,
 * get zone tokens from global, and start zones pointed at a global.
 */
import fs from 'node:fs';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ManagedProcess } from '../../../scripts/harness/managed-process';
import { loopbackCpEnv } from '../../../scripts/harness/cp-env';

export const CP_MAIN = path.resolve(__dirname, '../../../cp/main.js');

export interface Cp {
  proc: ManagedProcess;
  api: string;
  kdsPort?: number;
  workDir: string;
}

export function tmpDir(t: any, prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

export async function startCp(t: any, name: string, workDir: string, env: Record<string, string>): Promise<Cp> {
  const proc = new ManagedProcess({
    name,
    command: process.execPath,
    args: [CP_MAIN, 'run'],
    env: { PATH: process.env.PATH, ...loopbackCpEnv(workDir), KUMA_STORE_TYPE: 'sqlite', ...env },
  });
  t.teardown(() => proc.stop(3000));
  await proc.start();
  const apiPort = await proc.waitForPort('API server listening', 20_000).catch((err) => {
    throw new Error(`${name}: ${err.message}; last lines: ${JSON.stringify(proc.log.slice(-5))}`);
  });
  const cp: Cp = { proc, api: `http://127.0.0.1:${apiPort}`, workDir };
  if (env.KUMA_MODE === 'global') cp.kdsPort = await proc.waitForPort('KDS server listening', 5000);
  return cp;
}

// node:http rather than fetch: fetch refuses some ports ("bad ports") that port 0 may pick.
export function http(cp: Cp, method: string, p: string, body?: unknown): Promise<{ status: number; body: any; text: string }> {
  const payload = body !== undefined ? JSON.stringify(body) : undefined;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${cp.api}${p}`,
      { method, headers: payload ? { 'content-type': 'application/json' } : {}, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: any;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function zoneToken(global: Cp, zone: string): Promise<string> {
  const r = await http(global, 'POST', '/tokens/zone', { zone, scope: ['cp'] });
  if (r.status !== 200) throw new Error(`POST /tokens/zone for ${zone}: HTTP ${r.status} ${r.text}`);
  const token = typeof r.body === 'string' ? r.body : r.body?.token;
  if (typeof token !== 'string' || !token) throw new Error(`no token in ${r.text}`);
  return token.trim();
}

export async function startZone(t: any, global: Cp, zone: string, token: string, reuseWorkDir?: string): Promise<Cp> {
  const workDir = reuseWorkDir ?? tmpDir(t, `kds-e2e-${zone}-`);
  const tokenFile = path.join(workDir, 'zone-token');
  fs.writeFileSync(tokenFile, token);
  return startCp(t, zone, workDir, {
    KUMA_MODE: 'zone',
    KUMA_MULTIZONE_ZONE_NAME: zone,
    KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS: `grpcs://127.0.0.1:${global.kdsPort}`,
    KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE: path.join(global.workDir, 'dp-server-tls', 'ca.crt'),
    KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH: tokenFile,
  });
}

