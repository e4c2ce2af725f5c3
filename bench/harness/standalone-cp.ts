/**
 * One `kuma-cp run` in standalone mode for benchmarks: memory store, every port free,
 * dataplane authentication off (KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE=none: the benchmarks
 * measure the data plane, not token checks), VIPs from a loopback range so that the
 * embedded engine can bind them without iptables. Resources go in through the REST API.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { startChild, stopChild, type Child } from './children';
import { freePort } from '../../lib/free-port';

export { freePort };


/** Sleeps. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` every `everyMs` until true; throws naming `what` after `timeoutMs`. */
export async function until(fn: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A plain HTTP request with a JSON body; resolves with status and text. */
export function httpJson(url: string, method = 'GET', body?: unknown, o: { ca?: string; timeoutMs?: number } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const data = body === undefined ? undefined : JSON.stringify(body);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      { method, ca: o.ca, agent: false, timeout: o.timeoutMs ?? 10_000, headers: { 'content-type': 'application/json', ...(data ? { 'content-length': Buffer.byteLength(data) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** A running standalone CP. */
export interface StandaloneCp {
  child: Child;
  workDir: string;
  apiPort: number;
  dpPort: number;
  dpCaFile: string;
  dpCaPem: string;
  vipCidr: string;
  vipPort: number;
  /** PUTs a resource in Kuma's flat form; throws on a non-2xx answer. */
  put(resource: Record<string, any>): Promise<void>;
  /** The VIP table the DP server hands out for mesh `default`. */
  vips(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/** Starts `kuma-cp run` (standalone) and waits for its API and DP server. */
export async function startStandaloneCp(o: { core?: number; vipCidr?: string; extraEnv?: Record<string, string> } = {}): Promise<StandaloneCp> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cp-'));
  const [apiPort, dnsPort, diagPort, vipPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const vipCidr = o.vipCidr ?? '127.64.0.0/10';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUMA_MODE: 'standalone',
    KUMA_STORE_TYPE: 'memory',
    KUMA_GENERAL_WORK_DIR: workDir,
    KUMA_API_SERVER_HTTP_PORT: String(apiPort),
    KUMA_DP_SERVER_PORT: '0',
    KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'none',
    KUMA_DNS_SERVER_PORT: String(dnsPort),
    KUMA_DIAGNOSTICS_SERVER_PORT: String(diagPort),
    KUMA_DNS_SERVER_CIDR: vipCidr,
    KUMA_DNS_SERVER_SERVICE_VIP_PORT: String(vipPort),
    KUMA_LOG_LEVEL: 'info',
    ...(o.extraEnv ?? {}),
  };
  const child = startChild('kuma-cp', process.execPath, [path.resolve(__dirname, '../../cp/main.js'), 'run'], { core: o.core, env });
  try {
    const line = JSON.parse(await child.waitForLine(/DP server listening/, 30_000));
    const dpPort = Number(line.port);
    const dpCaFile = String(line.caFile);
    const dpCaPem = fs.readFileSync(dpCaFile, 'utf8');
    const api = `http://127.0.0.1:${apiPort}`;
    await until(async () => (await httpJson(`${api}/meshes/default`)).status === 200, 20_000, 'mesh default');
    return {
      child,
      workDir,
      apiPort,
      dpPort,
      dpCaFile,
      dpCaPem,
      vipCidr,
      vipPort,
      async put(r) {
        const p = r.type === 'Mesh' ? `/meshes/${r.name}` : `/meshes/${r.mesh ?? 'default'}/${collection(r.type)}/${r.name}`;
        const res = await httpJson(`${api}${p}`, 'PUT', r);
        if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${p}: ${res.status} ${res.text.slice(0, 300)}`);
      },
      async vips() {
        const res = await httpJson(`https://127.0.0.1:${dpPort}/dns/vips?mesh=default&name=bench`, 'GET', undefined, { ca: dpCaPem });
        if (res.status !== 200) throw new Error(`GET /dns/vips: ${res.status} ${res.text.slice(0, 200)}`);
        return JSON.parse(res.text).vips as Record<string, string>;
      },
      async stop() {
        await stopChild(child, 10_000);
        fs.rmSync(workDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopChild(child);
    fs.rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
}

function collection(type: string): string {
  switch (type) {
    case 'Dataplane':
      return 'dataplanes';
    case 'TrafficRoute':
      return 'traffic-routes';
    case 'TrafficPermission':
      return 'traffic-permissions';
    default:
      throw new Error(`no REST collection known for ${type}`);
  }
}
