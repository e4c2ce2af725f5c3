/**
 * ADS load (issue 3): N simulated dataplanes — each a real SotW ADS stream over
 * @grpc/grpc-js on its own HTTP/2 connection, ACKing like Envoy — against one
 * standalone control plane process. Measures
 *   1. connect -> first complete config (CDS + EDS + LDS ACKed), p50/p99, at a fixed
 *      connection rate;
 *   2. CP resident memory per connected dataplane;
 *   3. config generation time per dataplane (the project's generators timed in this
 *      process on the same resources, and the CP's CPU time for a mesh-wide change / N);
 *   4. a mesh-wide TrafficRoute change (route-all split 90/10 to a `version: v2` subset):
 *      time until each dataplane has ACKed the CDS that carries the new subset cluster
 *      and until its last follow-up ACK (EDS/LDS), p50/p99.
 * The CP runs pinned to core 1; the clients (1-2 worker processes) and this process to
 * core 0. Registration is through the REST API; ADS uses the plaintext DP server port
 * with KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE=none (no TLS, no tokens: the load is xDS, not
 * handshakes).
 *
 * Usage: node dist/bench/ads-load.js [--dataplanes=1000] [--services=500]
 *        [--outbounds=3] [--workers=2] [--rate=250] [--harness=0|1] [--cpu-prof=0|1]
 *        [--changes=3] [--fresh=1] [--grpc-clients=0]
 * With --cpu-prof=1 the CP runs under `node --cpu-prof` and the results list its top
 * functions by self time, for the whole run and for each change alone (--cpu-prof=2:
 * one client worker's too, to see which side sets the pace; profiling slows
 * it down: use for diagnosis, not for numbers). --changes: how many mesh-wide changes
 * to time after one connect phase. --fresh=1 (default): change k splits route-all 90/10
 * to the `shard: s<k>` subset, so every change brings clusters, CLAs and listeners the
 * CP has never built or encoded; --fresh=0: alternately to the `version: v2` split and
 * back (changes 2, 3... can reuse encodings cached by content from earlier ones).
 * --grpc-clients=1: the simulated proxies use @grpc/grpc-js instead of node:http2 (see
 * harness/ads-clients: on one shared core they cost as much CPU as the CP).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MemoryStore } from '../cp/store/memory-store';
import { buildMeshSnapshots } from '../cp/xds/generators/mesh-snapshot';
import { buildProxyContext } from '../cp/xds/generators/proxy-context';
import { generateResources } from '../cp/xds/generators/profiles';
import { subsetClusterName } from '../cp/xds/generators/names';
import { Snapshot } from '../cp/xds/cache/snapshot';
import { defaultPolicies } from '../cp/xds/server/default-policies';
import type { ResourceInput } from '../api/resource';
import { startChild, stopChild, stopAllChildren, stopChildrenOnSignal, type Child } from './harness/children';
import { cpuMicros, mib, rssBytes } from './harness/proc-stats';
import { summary, round } from './harness/stats';
import { runContext } from './harness/run-context';
import { printTable, writeResults, type Table } from './harness/results';
import { parseArgs } from './harness/args';
import { dataplane } from './harness/ads-world';
import { busyShare, monotonicMicros, newestProfile, topSelfTime, topTotalTime, type ProfileWindow } from './harness/cpu-profile';
import type { ChangeOutcome, ConnectOutcome, SimNode } from './harness/ads-clients';
import { freePort } from '../lib/free-port';

const CP_CORE = 1;
const CLIENT_CORE = 0;

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pin(pid: number, core: number): void {
  // -a: every thread (libuv's pool, V8's helpers), not just the main one.
  spawnSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
}


function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function api(port: number, method: string, p: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, method, path: p, agent, headers: { 'content-type': 'application/json', ...(data ? { 'content-length': Buffer.byteLength(data) } : {}) }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}


function kumaForm(r: ResourceInput): Record<string, unknown> {
  return { type: r.type, mesh: r.mesh, name: r.name, ...r.spec };
}

/** Tags of the subset a change splits 10% to: `version: v2`, or `shard: s<k>` for fresh change k. */
function changeSubset(fresh: boolean, k: number): Record<string, string> {
  return fresh ? { shard: `s${k}` } : { version: 'v2' };
}

/** The mesh-wide change: route-all split 90/10 between the service and one of its subsets. */
function changedRouteAll(subset: Record<string, string>): ResourceInput {
  const base = defaultPolicies('default').find((p) => p.type === 'TrafficRoute')!;
  return {
    ...base,
    spec: {
      ...base.spec,
      conf: {
        split: [
          { weight: 90, destination: { 'kuma.io/service': '*' } },
          { weight: 10, destination: { 'kuma.io/service': '*', ...subset } },
        ],
      },
    },
  };
}

/** route-all as the CP creates it with the mesh. */
function defaultRouteAll(): ResourceInput {
  return defaultPolicies('default').find((p) => p.type === 'TrafficRoute')!;
}

/** One timed mesh-wide change. */
interface ChangeRun {
  present: boolean;
  /** What the change did, for the tables. */
  label: string;
  markerLatency: ReturnType<typeof summary>;
  lastAckLatency: ReturnType<typeof summary>;
  cpuChange: number;
  clientCpu: number;
  responsesPerDp: number;
  missing: number;
  /** The CP's own log line for the regeneration of all N (absent for a CP that does not log it). */
  regeneration?: { queuedMs: number; ms: number; slices: number };
  window: ProfileWindow;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

interface Worker {
  proc: ChildProcess;
  nodes: SimNode[];
  waiters: Map<string, (m: any) => void>;
}

function startWorker(file: string, profDir?: string): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const execArgv = ['--max-old-space-size=4096', ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])];
    const proc = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    const w: Worker = { proc, nodes: [], waiters: new Map() };
    proc.on('message', (m: any) => {
      if (m.ev === 'ready') {
        pin(proc.pid!, CLIENT_CORE);
        resolve(w);
        return;
      }
      const f = w.waiters.get(m.ev);
      if (f) {
        w.waiters.delete(m.ev);
        f(m);
      }
    });
    proc.once('exit', (code) => reject(new Error(`ADS client worker exited early (${code})`)));
  });
}

function ask(w: Worker, cmd: Record<string, unknown>, ev: string, timeoutMs: number): Promise<any> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      w.waiters.delete(ev);
      reject(new Error(`worker ${w.proc.pid}: no ${ev} within ${timeoutMs} ms`));
    }, timeoutMs);
    w.waiters.set(ev, (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    w.proc.send(cmd);
  });
}

/** Waits until no client has received anything for `quietMs` (bounded by `timeoutMs`). */
async function quiesce(workers: Worker[], quietMs: number, timeoutMs: number, since = 0): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await Promise.all(workers.map((w) => ask(w, { cmd: 'status' }, 'status', 10_000)));
    const last = Math.max(...st.map((s) => s.lastResponseAt));
    if (last > since && nowMs() - last >= quietMs) return last;
    if (Date.now() > deadline) throw new Error(`clients still receiving updates after ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** Times the project's generators for every dataplane on the benchmark's resources (pure, in this process). */
async function generationTime(resources: ResourceInput[]): Promise<{ meshSnapshotMs: number; perDataplaneMs: number; resourcesPerDataplane: number; coldPerDataplaneMs: number }> {
  const store = new MemoryStore();
  for (const r of resources) await store.create(r);
  const [meshes, dataplanes, zoneIngresses, trafficRoutes, trafficPermissions] = await Promise.all([
    store.list('Mesh'),
    store.list('Dataplane'),
    store.list('ZoneIngress'),
    store.list('TrafficRoute'),
    store.list('TrafficPermission'),
  ]);
  // Pass 1 is cold (JIT, protobufjs codecs built on first use), pass 2 is what a running CP pays.
  const passes: { meshSnapshotMs: number; perDataplaneMs: number; resourcesPerDataplane: number }[] = [];
  for (let pass = 0; pass < 2; pass++) {
    const t0 = performance.now();
    const snaps = buildMeshSnapshots({ meshes, dataplanes, zoneIngresses, trafficRoutes, trafficPermissions, vips: {} }, '');
    const t1 = performance.now();
    let count = 0;
    for (const dp of dataplanes) {
      const ctx = buildProxyContext(snaps, { kind: 'dataplane', mesh: 'default', name: dp.meta.name, resource: dp, dnsEnabled: false }, { zone: '', vipPort: 80 }, undefined);
      const snap = Snapshot.fromResourceSet(generateResources(ctx));
      for (const m of snap.resources.values()) count += m.size;
    }
    const t2 = performance.now();
    passes.push({ meshSnapshotMs: t1 - t0, perDataplaneMs: (t2 - t1) / dataplanes.length, resourcesPerDataplane: count / dataplanes.length });
  }
  return { ...passes[1], coldPerDataplaneMs: passes[0].perDataplaneMs };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { dataplanes: 1000, services: 500, outbounds: 3, workers: 2, rate: 250, harness: 0, 'cpu-prof': 0, changes: 3, fresh: 1, 'grpc-clients': 0 });
  const clientTransport = args['grpc-clients'] ? 'grpc' : 'h2';
  if (!Number.isInteger(args.changes) || args.changes < 1 || args.changes > 20) throw new Error(`--changes must be an integer from 1 to 20, got ${args.changes}`);
  const N = args.dataplanes;
  stopChildrenOnSignal();
  pin(process.pid, CLIENT_CORE);
  const before = runContext();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ads-'));
  const [apiPort, dpPort, plainPort, dnsPort, diagPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUMA_MODE: 'standalone',
    KUMA_STORE_TYPE: 'memory',
    KUMA_GENERAL_WORK_DIR: workDir,
    KUMA_API_SERVER_HTTP_PORT: String(apiPort),
    KUMA_DP_SERVER_PORT: String(dpPort),
    KUMA_DP_SERVER_PLAINTEXT_PORT: String(plainPort),
    KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'none',
    KUMA_DNS_SERVER_PORT: String(dnsPort),
    KUMA_DIAGNOSTICS_SERVER_PORT: String(diagPort),
    KUMA_LOG_LEVEL: 'info',
  };
  const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ads-prof-'));
  const nodeArgs = args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  let profile: string[] = [];
  const changeProfiles: string[] = [];
  const workers: Worker[] = [];
  let cp: Child | undefined;
  let cpKind = '';
  try {
    // 1. The control plane: `kuma-cp run` when it serves ADS, else the harness stand-in.
    const cpMain = path.resolve(__dirname, '../cp/main.js');
    if (!args.harness) {
      cp = startChild('kuma-cp', process.execPath, [...nodeArgs, cpMain, 'run'], { core: CP_CORE, env });
      await until(() => api(apiPort, 'GET', '/').then((r) => r.status === 200, () => false), 20_000, 'kuma-cp API');
      if (await until(() => tcpOpen(plainPort), 5_000, 'DP server plaintext port').then(() => true, () => false)) cpKind = 'kuma-cp run (standalone)';
      else {
        console.log('kuma-cp run does not open KUMA_DP_SERVER_PLAINTEXT_PORT (xDS not wired yet); using bench/harness/xds-cp-host');
        await stopChild(cp);
      }
    }
    if (!cpKind) {
      fs.rmSync(workDir, { recursive: true, force: true });
      fs.mkdirSync(workDir);
      cp = startChild('xds-cp-host', process.execPath, [...nodeArgs, path.resolve(__dirname, 'harness/xds-cp-host.js')], { core: CP_CORE, env });
      await cp.waitForLine(/"msg":"cp-host ready"/, 30_000);
      cpKind = 'bench/harness/xds-cp-host (kuma-cp assembly + XdsServer + DpServer)';
    }
    const cpPid = cp!.pid;
    await until(async () => (await api(apiPort, 'GET', '/meshes/default/traffic-routes/route-all-default')).status === 200, 10_000, 'default route');
    await sleep(1500);
    const rssIdle = rssBytes(cpPid)!;

    // 2. Register N dataplanes over the REST API (16 in flight).
    const dps = Array.from({ length: N }, (_, i) => dataplane(i, args.services, args.outbounds));
    const regStart = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < N) {
          const r = dps[next++];
          const res = await api(apiPort, 'PUT', `/meshes/default/dataplanes/${r.name}`, kumaForm(r));
          if (res.status !== 201 && res.status !== 200) throw new Error(`PUT ${r.name}: ${res.status} ${res.text.slice(0, 300)}`);
        }
      }),
    );
    const registerMs = performance.now() - regStart;
    console.log(`registered ${N} dataplanes in ${Math.round(registerMs)} ms (${cpKind})`);
    await sleep(2000);
    const rssRegistered = rssBytes(cpPid)!;

    // 3. Connect the simulated dataplanes.
    const workerFile = path.resolve(__dirname, 'harness/ads-clients.js');
    const workerProfDir = args['cpu-prof'] >= 2 ? fs.mkdtempSync(path.join(profDir, 'workers-')) : undefined;
    for (let w = 0; w < Math.max(1, Math.min(args.workers, N)); w++) workers.push(await startWorker(workerFile, workerProfDir));
    dps.forEach((d, i) => workers[i % workers.length].nodes.push({ id: `default.${d.name}`, name: d.name }));
    const cpuBeforeConnect = cpuMicros(cpPid)!;
    // Bounded, but generous: the CP's cost per connection grows with N.
    const connectTimeout = Math.min(900_000, 60_000 + (N / args.rate) * 1000 * 4 + N * N * 0.03);
    const connectStart = nowMs();
    const configured: ConnectOutcome[] = (
      await Promise.all(
        workers.map((w) => ask(w, { cmd: 'connect', address: `127.0.0.1:${plainPort}`, nodes: w.nodes, ratePerSec: args.rate / workers.length, transport: clientTransport }, 'configured', connectTimeout)),
      )
    ).flatMap((m) => m.clients);
    const allConfiguredMs = Math.max(...configured.map((c) => c.configuredAt ?? Infinity)) - connectStart;
    const failures = configured.filter((c) => c.error || c.configuredAt === undefined);
    if (failures.length) {
      const kinds = new Map<string, number>();
      for (const f of failures) {
        const kind = (f.error ?? 'not configured').replace(/\(\d{4}-\d\d-\d\dT[^)]*\)/g, '(…)');
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
      throw new Error(`${failures.length} of ${N} clients failed: ${[...kinds].map(([k, n]) => `${n}× ${k}`).join('; ')}`);
    }
    const connectLatency = summary(configured.map((c) => c.configuredAt! - c.startedAt));
    await quiesce(workers, 2000, 60_000);
    const cpuConnect = cpuMicros(cpPid)! - cpuBeforeConnect;
    await sleep(1000);
    const rssConnected = rssBytes(cpPid)!;
    const clientRss = (await Promise.all(workers.map((w) => ask(w, { cmd: 'status' }, 'status', 10_000)))).reduce((a, s) => a + s.rssBytes, 0);
    console.log(`all ${N} configured after ${Math.round(allConfiguredMs)} ms; connect->config p50 ${round(connectLatency.p50)} ms p99 ${round(connectLatency.p99)} ms`);

    // 4. The mesh-wide change, `changes` times: route-all split to the v2 subset, back to
    // the default, split again... Each change is timed on its own; the verdict uses the
    // median of their p99s (one connect phase, several samples of the number that matters).
    const fresh = args.fresh !== 0;
    const markerOf = (k: number) => subsetClusterName('svc-0', { 'kuma.io/service': 'svc-0', ...changeSubset(fresh, k) }).slice('svc-0'.length);
    const changeRuns: ChangeRun[] = [];
    for (let k = 0; k < args.changes; k++) {
      const present = fresh || k % 2 === 0;
      const marker = markerOf(fresh ? k : 0);
      const label = fresh ? `split to shard s${k}, new content` : present ? 'split to v2' : 'back to default';
      for (const w of workers) w.proc.send({ cmd: 'mark', marker, present });
      await sleep(200);
      const cpuBeforeChange = cpuMicros(cpPid)!;
      const clientCpuBefore = workers.reduce((a, w) => a + (cpuMicros(w.proc.pid!) ?? 0), 0);
      // The CP logs each large regeneration's wait and duration: which part of the latency is generation.
      const regenLine = cp!.nextLine(new RegExp(`"proxies":${N},.*xDS regeneration done`), 120_000).catch(() => undefined);
      const t0 = nowMs();
      const mono0 = monotonicMicros();
      const route = present ? changedRouteAll(changeSubset(fresh, k)) : defaultRouteAll();
      const put = await api(apiPort, 'PUT', `/meshes/default/traffic-routes/${route.name}`, kumaForm(route));
      if (put.status !== 200 && put.status !== 201) throw new Error(`PUT route: ${put.status} ${put.text}`);
      // Two quiet seconds normally mean the change is done; on a loaded machine the CP can
      // be off-CPU that long mid-regeneration, so while some client lacks the change keep
      // waiting (bounded) instead of reporting it as never delivered.
      let last = 0;
      let change: ChangeOutcome[] = [];
      const changeDeadline = Date.now() + 120_000;
      for (;;) {
        last = await quiesce(workers, 2000, 120_000, t0);
        change = (await Promise.all(workers.map((w) => ask(w, { cmd: 'change-report' }, 'change-report', 30_000)))).flatMap((m) => m.clients);
        if (change.every((c) => c.markerAckedAt !== undefined) || Date.now() > changeDeadline) break;
        await sleep(500);
      }
      const regen = await Promise.race([regenLine, sleep(100).then(() => undefined)]);
      const regeneration = regen ? (JSON.parse(regen) as { queuedMs: number; ms: number; slices: number }) : undefined;
      const cpuChange = cpuMicros(cpPid)! - cpuBeforeChange;
      const clientCpu = workers.reduce((a, w) => a + (cpuMicros(w.proc.pid!) ?? 0), 0) - clientCpuBefore;
      const missing = change.filter((c) => c.markerAckedAt === undefined).length;
      const markerLatency = summary(change.filter((c) => c.markerAckedAt !== undefined).map((c) => c.markerAckedAt! - t0));
      const lastAckLatency = summary(change.filter((c) => c.lastAckAt !== undefined).map((c) => c.lastAckAt! - t0));
      const responsesPerDp = change.reduce((a, c) => a + c.responsesAfterMark, 0) / N;
      // The window ends at the last response, not after the 2 s of quiet that proves it was the last.
      const regenMs = regeneration ? { queuedMs: regeneration.queuedMs, ms: regeneration.ms, slices: regeneration.slices } : undefined;
      changeRuns.push({ present, label, markerLatency, lastAckLatency, cpuChange, clientCpu, responsesPerDp, missing, regeneration: regenMs, window: { fromUs: mono0, toUs: mono0 + (last - t0) * 1000 } });
      console.log(
        `change ${k + 1} (${label}): ${N - missing}/${N} ACKed the new CDS; p50 ${round(markerLatency.p50)} ms p99 ${round(markerLatency.p99)} ms; whole change p99 ${round(lastAckLatency.p99)} ms; CP CPU ${round(cpuChange / 1000)} ms, clients CPU ${round(clientCpu / 1000)} ms; CP regeneration ${regenMs ? `${regenMs.ms} ms in ${regenMs.slices} slices` : '(not logged)'}`,
      );
    }
    const p99s = changeRuns.map((c) => c.markerLatency.p99);
    const medianP99 = median(p99s);
    // The whole change (CDS, the new subset's EDS, the weighted LDS) is in force only
    // once the last of its responses is ACKed: that, not the first CDS, is what traffic sees.
    const fullP99s = changeRuns.map((c) => c.lastAckLatency.p99);
    const medianFullP99 = median(fullP99s);
    const worstFullP99 = Math.max(...fullP99s);
    const missing = Math.max(...changeRuns.map((c) => c.missing));
    const first = changeRuns[0];
    const markerLatency = first.markerLatency;
    const lastAckLatency = first.lastAckLatency;
    const cpuChange = median(changeRuns.map((c) => c.cpuChange));
    const clientCpuChange = median(changeRuns.map((c) => c.clientCpu));
    const responsesPerDp = first.responsesPerDp;

    for (const w of workers) w.proc.send({ cmd: 'close' });
    if (args['cpu-prof']) {
      await stopChild(cp!, 20_000);
      const f = newestProfile(profDir);
      profile = f ? topSelfTime(f, 20) : ['(no profile written)'];
      console.log(`CP CPU profile (self time, whole run):\n  ${profile.join('\n  ')}`);
      if (f) {
        for (const [k, c] of changeRuns.entries()) {
          const top = topSelfTime(f, 20, c.window);
          const busy = busyShare(f, c.window);
          changeProfiles.push(`change ${k + 1}: CP busy ${busy === undefined ? '?' : Math.round(busy * 100)}% of the window; ${top.join('; ')}`);
          console.log(`CP CPU profile, change ${k + 1} only (busy ${busy === undefined ? '?' : Math.round(busy * 100)}%):\n  ${top.join('\n  ')}`);
          const total = topTotalTime(f, 40, c.window);
          changeProfiles.push(`change ${k + 1}, total time (function and callees): ${total.join('; ')}`);
          console.log(`CP CPU profile, change ${k + 1} only, total time:\n  ${total.join('\n  ')}`);
        }
      }
      if (workerProfDir) {
        // The workers write their profiles as they exit after 'close'.
        await Promise.all(workers.map((w) => (w.proc.exitCode !== null ? undefined : new Promise((res) => w.proc.once('exit', res)))));
        const wf = newestProfile(workerProfDir);
        for (const [k, c] of changeRuns.entries()) {
          if (!wf) break;
          const top = topSelfTime(wf, 15, c.window);
          const busy = busyShare(wf, c.window);
          changeProfiles.push(`change ${k + 1}, one client worker: busy ${busy === undefined ? '?' : Math.round(busy * 100)}%; ${top.join('; ')}`);
          console.log(`client worker CPU profile, change ${k + 1} only (busy ${busy === undefined ? '?' : Math.round(busy * 100)}%):\n  ${top.join('\n  ')}`);
        }
      }
    }
    const gen = await generationTime([{ type: 'Mesh', name: 'default', spec: {} }, ...defaultPolicies('default'), ...dps]);

    const tables: Table[] = [
      {
        title: `ADS load: ${N} dataplanes, ${args.services} services, ${args.outbounds} outbounds each, connecting at ${args.rate}/s (${cpKind})`,
        columns: ['metric', 'p50', 'p90', 'p99', 'max', 'target'],
        rows: [
          ['connect -> first config ACKed (ms)', round(connectLatency.p50), round(connectLatency.p90), round(connectLatency.p99), round(connectLatency.max), '–'],
          ...changeRuns.flatMap((c, k) => [
            [`change ${k + 1} (${c.label}) -> new CDS ACKed (ms)`, round(c.markerLatency.p50), round(c.markerLatency.p90), round(c.markerLatency.p99), round(c.markerLatency.max), 'p99 ≤ 2000 at 5,000'],
            [`change ${k + 1} -> last follow-up ACK (ms)`, round(c.lastAckLatency.p50), round(c.lastAckLatency.p90), round(c.lastAckLatency.p99), round(c.lastAckLatency.max), '–'],
            [`change ${k + 1}: CP regenerating all N (ms, from its log)`, '', '', '', c.regeneration ? c.regeneration.ms : '–', '–'],
          ]),
        ],
      },
      {
        title: 'Control plane cost',
        columns: ['metric', 'value', 'target'],
        rows: [
          ['register N dataplanes over REST (ms)', Math.round(registerMs), '–'],
          ['all N configured after first connect (ms)', Math.round(allConfiguredMs), '–'],
          ['CP RSS idle / registered / connected (MiB)', `${round(mib(rssIdle))} / ${round(mib(rssRegistered))} / ${round(mib(rssConnected))}`, '–'],
          ['CP RSS per connected dataplane (MiB, connected − registered) / N', round(mib(rssConnected - rssRegistered) / N), '≤ 0.1'],
          ['CP RSS per dataplane incl. its store entry (MiB, connected − idle) / N', round(mib(rssConnected - rssIdle) / N), '–'],
          ['CP CPU per dataplane while connecting (ms)', round(cpuConnect / 1000 / N), '–'],
          ['CP CPU per dataplane for the mesh-wide change (ms, median of changes)', round(cpuChange / 1000 / N), '–'],
          ['client workers CPU per dataplane for the change (ms, median of changes)', round(clientCpuChange / 1000 / N), '–'],
          ['generation per dataplane, generators in-process, warm / cold (ms)', `${round(gen.perDataplaneMs)} / ${round(gen.coldPerDataplaneMs)}`, '–'],
          ['mesh snapshot build for N dataplanes, in-process (ms)', round(gen.meshSnapshotMs), '–'],
          ['xDS resources per dataplane', round(gen.resourcesPerDataplane), '–'],
          ['responses per dataplane after the change', round(responsesPerDp), '–'],
          ['client workers RSS total (MiB)', round(mib(clientRss)), '–'],
        ],
      },
    ];
    for (const t of tables) printTable(t);
    const perDpMiB = mib(rssConnected - rssRegistered) / N;
    const verdicts = [
      `CP RSS per connected dataplane ${round(perDpMiB)} MiB (target ≤ 0.1): ${perDpMiB <= 0.1 ? 'met' : 'NOT met'}`,
      `mesh-wide TrafficRoute change, p99 until the new CDS is ACKed: median of ${p99s.length} change(s) ${round(medianP99)} ms (each: ${p99s.map((x) => round(x)).join(', ')}) at N=${N}`,
      `mesh-wide TrafficRoute change, p99 until the whole change (CDS, EDS, LDS) is ACKed: median of ${fullP99s.length} change(s) ${round(medianFullP99)} ms, worst ${round(worstFullP99)} ms (each: ${fullP99s.map((x) => round(x)).join(', ')}) at N=${N} (target p99 ≤ 2000 ms at 5,000)${N >= 5000 ? (worstFullP99 <= 2000 ? ': met on every change' : medianFullP99 <= 2000 ? ': met at the median, not on every change' : ': NOT met') : ''}`,
      ...(missing ? [`${missing} dataplanes never ACKed the changed CDS within the window`] : []),
    ];
    for (const v of verdicts) console.log(v);
    const files = writeResults({
      bench: args['cpu-prof'] ? 'ads-load-profile' : 'ads-load',
      params: { dataplanes: N, services: args.services, outbounds: args.outbounds, fresh, clientTransport, workers: workers.length, connectRatePerSec: args.rate, cp: cpKind, cpCore: CP_CORE, clientCore: CLIENT_CORE },
      data: { registerMs, allConfiguredMs, connectLatency, markerLatency, lastAckLatency, medianP99, medianFullP99, worstFullP99, changes: changeRuns, rss: { idle: rssIdle, registered: rssRegistered, connected: rssConnected }, cpuConnectMicros: cpuConnect, cpuChangeMicros: cpuChange, clientCpuChangeMicros: clientCpuChange, generation: gen, responsesPerDp, clientRss, missing },
      tables,
      verdicts,
      notes: [
        `CP: ${cpKind}, memory store, log level info, pinned with taskset -c ${CP_CORE}. Clients: ${workers.length} worker process(es) and this process pinned to core ${CLIENT_CORE}.`,
        `Each simulated dataplane: its own HTTP/2 connection and gRPC stream (${clientTransport === 'h2' ? 'node:http2 with gRPC framing, responses read from the wire and checked against protobufjs on the first 50' : '@grpc/grpc-js channel, local subchannel pool'}), SotW ADS, node id default.dp-i, Envoy-like: CDS+LDS wildcard, EDS subscription to the EDS clusters received, every response ACKed with version and nonce. TCP services, mTLS off (no SDS): the cost measured is xDS generation and delivery.`,
        'ADS over the plaintext DP server port with KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE=none (no TLS handshakes, no token checks).',
        `The change is route-all-default rewritten to split 90/10 between each service and ${fresh ? 'its shard=s<k> subset (change k; every change is content the CP has not built before)' : 'its version=v2 subset'}, which adds one subset cluster per outbound (CDS), its CLA (EDS) and weighted tcp_proxy clusters (LDS). "New CDS ACKed" is when a client ACKs the first CDS containing the subset cluster; "last follow-up ACK" is its last ACK before the system went quiet for 2 s.`,
        'Generation per dataplane is timed in this process with the same generators on the same resources (buildProxyContext + generateResources + Snapshot.fromResourceSet), apart from the mesh snapshot built once per regeneration.',
        ...(profile.length ? [`CPU PROFILE RUN (numbers inflated by the profiler). CP self time, whole run: ${profile.join('; ')}`] : []),
        ...changeProfiles.map((p) => `CP self time, ${p}`),
        fresh ? `Every change is new: change k replaces the previous split with one to the shard=s<k> subset (instance k of each service carries that tag). The client workers share core ${CLIENT_CORE}; their CPU per change shows whether they, not the CP, set the pace.` : `Changes alternate: odd ones split route-all 90/10 to the version=v2 subset (the new CDS is the first with the subset cluster), even ones restore the default route (the first CDS without it). The client workers share core ${CLIENT_CORE}; their CPU per change shows whether they, not the CP, set the pace.`,
        'RSS is VmRSS sampled after 1-2 s of quiet (no forced GC), so per-dataplane numbers carry GC noise of a few MiB / N.',
      ],
      context: { before, after: runContext() },
    });
    console.log(`results: ${path.relative(process.cwd(), files.json)}, ${path.relative(process.cwd(), files.md)}`);
  } finally {
    for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
    await stopAllChildren();
    agent.destroy();
    fs.rmSync(workDir, { recursive: true, force: true });
    fs.rmSync(profDir, { recursive: true, force: true });
  }
}

async function until(fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

main().catch(async (err) => {
  console.error(`ads-load: ${(err as Error).stack ?? err}`);
  await stopAllChildren();
  process.exit(1);
});
