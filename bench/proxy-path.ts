/**
 * Proxy path cost (issue 5): app -> sidecar -> mTLS -> sidecar -> app through
 *   - kuma-dp with the embedded engine (two `kuma-dp run` processes configured by a
 *     standalone `kuma-cp run` with a builtin-CA mTLS mesh, HTTP services),
 *   - the same path built from two haproxy processes (TLS origination with a client
 *     certificate on one side, termination with client-certificate verification on
 *     the other; certificates from openssl, RSA 2048 like the mesh CA's),
 *   - no proxy (client straight to the app),
 *   - the Node floor: byte relays on net/tls with the haproxy pair's certificates.
 * Per round and path: wrk (saturating, keep-alive) for requests/s, then a fixed-rate
 * run (bench/harness/fixed-rate.ts; wrk has no fixed-rate mode) for p50/p99 latency.
 * Proxy CPU per request = utime+stime delta of both proxy processes / requests.
 * Proxies on core 1; wrk, the fixed-rate client, the app and the CP on core 0.
 *
 * Usage: node dist/bench/proxy-path.js [--seconds=10] [--rate=1000] [--latency-seconds=10]
 *        [--connections=16] [--rounds=3] [--hold=SECONDS]
 * --cpu-prof=1 runs the kuma-dp pair under `node --cpu-prof` and records their top
 * functions by self time (diagnosis only: the profiler inflates the numbers).
 * --floor=0 leaves out the Node floor path (bench/harness/node-relay.ts: two byte relays,
 * plain → mTLS → plain, no HTTP), which is on by default: the CPU per request any engine
 * on Node's net/tls streams cannot go below, in the same run as haproxy.
 * --raw-floor=1 adds the same relays driving Node's native stream handles directly (RELAY_RAW in
 * bench/harness/node-relay.ts: process.binding, past net/tls's JavaScript streams): what
 * leaving Node's public net/tls API would buy; a diagnosis, not something kuma-dp does.
 * --hold keeps the paths up for SECONDS after start-up (ports printed) for diagnosis.
 * BENCH_BASELINE_NODE_ARGS="--flag ..." (environment) puts node options in front of the baseline
 * pair's agent: with BENCH_BASELINE_AGENT set to this build, an A/B of runtime flags.
 * BENCH_BASELINE_AGENT=DIR/agent/main.js (environment) adds a fourth path: a second kuma-dp pair run from
 * another build (e.g. the previous commit's dist/ copied aside), so that an optimisation is
 * compared with the code it replaces in the same run, under the same background load; then
 * --pairs=N (default 8) paired rounds of the two builds and haproxy back to back.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startChild, stopChild, stopAllChildren, stopChildrenOnSignal, runToEnd, type Child } from './harness/children';
import { cpuMicros, mib, rssBytes } from './harness/proc-stats';
import { median, percentile, round } from './harness/stats';
import { runContext } from './harness/run-context';
import { printTable, writeResults, type Table } from './harness/results';
import { parseArgs } from './harness/args';
import { freePort, httpJson, sleep, startStandaloneCp, until, type StandaloneCp } from './harness/standalone-cp';
import { fixedRate } from './harness/fixed-rate';
import { newestProfile, topSelfTime } from './harness/cpu-profile';

const PROXY_CORE = 1;
const CLIENT_CORE = 0;

interface PathSetup {
  name: string;
  /** Where the client sends requests. */
  port: number;
  /** The proxy processes whose CPU is charged to the path. */
  pids: number[];
}

/** One path's numbers in one paired A/B round. */
interface PairCell {
  sat: number;
  fixed: number;
  p50: number;
  p99: number;
}

interface PathRound {
  path: string;
  round: number;
  rps: number;
  requests: number;
  wrkP50Ms: number;
  wrkP99Ms: number;
  cpuUsPerReqSaturated: number;
  fixed: { rate: number; ok: number; errors: number; p50Ms: number; p99Ms: number; p999Ms: number; maxMs: number };
  cpuUsPerReqFixed: number;
  rssMiB: number[];
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA and two leaf certificates (SPIFFE URI SANs, as the mesh issues), as haproxy wants them. */
function makeCerts(dir: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=bench-ca', '-days', '2'], dir);
  for (const [name, svc] of [
    ['server', 'backend'],
    ['client', 'frontend'],
  ]) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${svc}`], dir);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=URI:spiffe://default/${svc},DNS:${svc}\n`);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir);
    fs.writeFileSync(path.join(dir, `${name}.pem`), fs.readFileSync(path.join(dir, `${name}.crt`), 'utf8') + fs.readFileSync(path.join(dir, `${name}.key`), 'utf8'));
  }
}

const HAPROXY_COMMON = ['global', '  nbthread 1', '  maxconn 4096', 'defaults', '  mode http', '  option http-keep-alive', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s', '  timeout http-keep-alive 60s'];

async function startHaproxyPair(dir: string, appPort: number): Promise<PathSetup> {
  makeCerts(dir);
  const [outPort, inPort] = [await freePort(), await freePort()];
  const inbound = [...HAPROXY_COMMON, 'frontend inbound', `  bind 127.0.0.1:${inPort} ssl crt ${dir}/server.pem ca-file ${dir}/ca.crt verify required`, '  default_backend app', 'backend app', '  http-reuse always', `  server app 127.0.0.1:${appPort}`];
  const outbound = [
    ...HAPROXY_COMMON,
    'frontend outbound',
    `  bind 127.0.0.1:${outPort}`,
    '  default_backend mesh',
    'backend mesh',
    '  http-reuse always',
    `  server backend 127.0.0.1:${inPort} ssl crt ${dir}/client.pem ca-file ${dir}/ca.crt verify required verifyhost backend sni str(backend)`,
  ];
  fs.writeFileSync(path.join(dir, 'inbound.cfg'), inbound.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'outbound.cfg'), outbound.join('\n') + '\n');
  const a = startChild('haproxy-outbound', 'haproxy', ['-db', '-f', path.join(dir, 'outbound.cfg')], { core: PROXY_CORE });
  const b = startChild('haproxy-inbound', 'haproxy', ['-db', '-f', path.join(dir, 'inbound.cfg')], { core: PROXY_CORE });
  await until(async () => (await httpJson(`http://127.0.0.1:${outPort}/`)).status === 200, 15_000, 'a 200 through haproxy').catch((err) => {
    throw new Error(`${(err as Error).message}; haproxy said: ${[...a.lines, ...b.lines].slice(-10).join(' | ')}`);
  });
  return { name: 'haproxy → TLS → haproxy', port: outPort, pids: [a.pid, b.pid] };
}

/** Two bench/harness/node-relay.js processes (the Node floor): plain → TLS out, TLS in → plain, no HTTP. */
async function startNodeRelayPair(dir: string, appPort: number, raw = false): Promise<PathSetup> {
  const relay = path.resolve(__dirname, 'harness/node-relay.js');
  const env = raw ? { ...process.env, RELAY_RAW: '1' } : process.env;
  const suffix = raw ? '-raw' : '';
  const b = startChild(`node-relay-inbound${suffix}`, process.execPath, [relay, 'inbound', String(appPort), dir], { core: PROXY_CORE, env });
  const inPort = JSON.parse(await b.waitForLine(/"msg":"relay ready"/)).port as number;
  const a = startChild(`node-relay-outbound${suffix}`, process.execPath, [relay, 'outbound', String(inPort), dir], { core: PROXY_CORE, env });
  const outPort = JSON.parse(await a.waitForLine(/"msg":"relay ready"/)).port as number;
  await until(async () => (await httpJson(`http://127.0.0.1:${outPort}/`)).status === 200, 15_000, 'a 200 through the Node relays');
  return { name: raw ? RAW_FLOOR : NODE_FLOOR, port: outPort, pids: [a.pid, b.pid] };
}

const NODE_FLOOR = 'Node floor: L4 relay → mTLS → L4 relay (no HTTP)';
const RAW_FLOOR = 'raw-handle relays (process.binding, no net/tls streams; diagnosis)';

async function startKumaPair(dir: string, cp: StandaloneCp, appPort: number, profDir?: string, agentMain = path.resolve(__dirname, '../agent/main.js'), suffix = ''): Promise<{ setup: PathSetup; children: Child[] }> {
  if (!suffix) await cp.put({ type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } });
  const [outPort, inPort, feInbound, feApp] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const files = {
    backend: ['type: Dataplane', 'mesh: default', `name: backend-1${suffix}`, 'networking:', '  address: 127.0.0.1', '  inbound:', `  - port: ${inPort}`, `    servicePort: ${appPort}`, '    serviceAddress: 127.0.0.1', '    tags:', `      kuma.io/service: backend${suffix}`, '      kuma.io/protocol: http'],
    frontend: [
      'type: Dataplane',
      'mesh: default',
      `name: frontend-1${suffix}`,
      'networking:',
      '  address: 127.0.0.1',
      '  inbound:',
      `  - port: ${feInbound}`,
      `    servicePort: ${feApp}`,
      '    tags:',
      `      kuma.io/service: frontend${suffix}`,
      '      kuma.io/protocol: http',
      '  outbound:',
      `  - port: ${outPort}`,
      '    tags:',
      `      kuma.io/service: backend${suffix}`,
    ],
  };
  const children: Child[] = [];
  for (const [name, lines] of Object.entries(files)) {
    const f = path.join(dir, `${name}${suffix}.yaml`);
    fs.writeFileSync(f, lines.join('\n') + '\n');
    const readyPort = await freePort();
    const c = startChild(
      `kuma-dp-${name}${suffix}`,
      process.execPath,
      [...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profDir, name + suffix)}`] : []), ...(suffix ? baselineNodeArgs() : []), agentMain, 'run', `--cp-address=https://127.0.0.1:${cp.dpPort}`, `--dataplane-file=${f}`, `--ca-cert-file=${cp.dpCaFile}`, '--engine=embedded', `--readiness-port=${readyPort}`, '--drain-time=0s', '--log-level=warn'],
      { core: PROXY_CORE },
    );
    children.push(c);
    await until(async () => (await httpJson(`http://127.0.0.1:${readyPort}/ready`)).status === 200, 30_000, `kuma-dp ${name} ready`);
  }
  await until(async () => (await httpJson(`http://127.0.0.1:${outPort}/`)).status === 200, 30_000, 'a 200 through the kuma-dp sidecars');
  return { setup: { name: `kuma-dp (embedded) → mTLS → kuma-dp (embedded)${suffix ? ' [baseline build]' : ''}`, port: outPort, pids: children.map((c) => c.pid) }, children };
}

/** Node options for the baseline pair (BENCH_BASELINE_NODE_ARGS, space-separated). */
function baselineNodeArgs(): string[] {
  return (process.env.BENCH_BASELINE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
}

function parseWrk(out: string): { rps: number; requests: number; p50Ms: number; p99Ms: number } {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const reqs = /(\d+) requests in/.exec(out);
  if (!rps || !reqs) throw new Error(`wrk output not understood: ${out.slice(-500)}`);
  if (/Non-2xx or 3xx responses|Socket errors/.test(out)) throw new Error(`wrk saw errors: ${out.slice(-500)}`);
  const lat = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  };
  return { rps: Number(rps[1]), requests: Number(reqs[1]), p50Ms: lat('50'), p99Ms: lat('99') };
}

function cpuOf(pids: number[]): number {
  return pids.reduce((a, p) => a + (cpuMicros(p) ?? NaN), 0);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { seconds: 10, rate: 1000, 'latency-seconds': 10, connections: 16, rounds: 3, hold: 0, 'cpu-prof': 0, pairs: 8, floor: 1, 'raw-floor': 0 });
  const baselineAgent = process.env.BENCH_BASELINE_AGENT;
  stopChildrenOnSignal();
  spawnSync('taskset', ['-a', '-p', '-c', String(CLIENT_CORE), String(process.pid)], { stdio: 'ignore' });
  const before = runContext();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-proxy-path-'));
  const rounds: PathRound[] = [];
  let pathNames: string[] = [];
  const profiles: string[] = [];
  const paired: { build: PairCell; baseline: PairCell; haproxy: PairCell }[] = [];
  let cp: StandaloneCp | undefined;
  try {
    const app = startChild('app', process.execPath, [path.resolve(__dirname, 'harness/http-app.js'), '0'], { core: CLIENT_CORE });
    const appPort = JSON.parse(await app.waitForLine(/"msg":"app ready"/)).port as number;
    cp = await startStandaloneCp({ core: CLIENT_CORE });
    const profDir = args['cpu-prof'] ? path.join(dir, 'profiles') : undefined;
    const kuma = await startKumaPair(dir, cp, appPort, profDir);
    const ha = await startHaproxyPair(dir, appPort);
    const paths: PathSetup[] = [{ name: 'no proxy (client → app)', port: appPort, pids: [] }, ha, kuma.setup];
    if (baselineAgent) paths.push((await startKumaPair(dir, cp, appPort, undefined, path.resolve(baselineAgent), '-baseline')).setup);
    if (args.floor) paths.push(await startNodeRelayPair(dir, appPort));
    if (args['raw-floor']) paths.push(await startNodeRelayPair(dir, appPort, true));
    pathNames = paths.map((p) => p.name);
    console.log(`paths up: ${paths.map((p) => `${p.name} :${p.port}`).join(', ')}`);
    if (args.hold) await sleep(args.hold * 1000);

    for (let r = 1; r <= args.rounds; r++) {
      const order = [...paths.slice(r % paths.length), ...paths.slice(0, r % paths.length)];
      for (const p of order) {
        const url = `http://127.0.0.1:${p.port}/`;
        await runToEnd('wrk', ['-t1', `-c${args.connections}`, '-d2s', url], { core: CLIENT_CORE, timeoutMs: 20_000 }); // warm-up
        const c0 = cpuOf(p.pids);
        const w = await runToEnd('wrk', ['-t1', `-c${args.connections}`, `-d${args.seconds}s`, '--latency', url], { core: CLIENT_CORE, timeoutMs: (args.seconds + 30) * 1000 });
        const c1 = cpuOf(p.pids);
        const wrk = parseWrk(w.stdout);
        // Let the saturating run's connections close and its garbage be collected, then
        // warm the fixed-rate client's connections for 1 s (discarded): the latency
        // reported is the steady state at that rate, for every path alike.
        await sleep(2000);
        await fixedRate(p.port, args.rate, 1, args.connections);
        const c2 = cpuOf(p.pids);
        const fr = await fixedRate(p.port, args.rate, args['latency-seconds'], args.connections);
        const c3 = cpuOf(p.pids);
        if (fr.errors > 0) throw new Error(`${p.name}: ${fr.errors} errors in the fixed-rate run`);
        const row: PathRound = {
          path: p.name,
          round: r,
          rps: wrk.rps,
          requests: wrk.requests,
          wrkP50Ms: wrk.p50Ms,
          wrkP99Ms: wrk.p99Ms,
          cpuUsPerReqSaturated: p.pids.length ? (c1 - c0) / wrk.requests : NaN,
          fixed: {
            rate: args.rate,
            ok: fr.ok,
            errors: fr.errors,
            p50Ms: percentile(fr.latenciesMs, 50),
            p99Ms: percentile(fr.latenciesMs, 99),
            p999Ms: percentile(fr.latenciesMs, 99.9),
            maxMs: percentile(fr.latenciesMs, 100),
          },
          cpuUsPerReqFixed: p.pids.length ? (c3 - c2) / fr.ok : NaN,
          rssMiB: p.pids.map((pid) => mib(rssBytes(pid))),
        };
        rounds.push(row);
        console.log(
          `round ${r} ${p.name}: ${Math.round(row.rps)} req/s, CPU ${round(row.cpuUsPerReqSaturated)} µs/req saturated, ${round(row.cpuUsPerReqFixed)} µs/req @${args.rate}/s, p50 ${round(row.fixed.p50Ms)} ms p99 ${round(row.fixed.p99Ms)} ms`,
        );
      }
    }
    if (baselineAgent && args.pairs > 0) {
      // Paired A/B: this build, the baseline build and haproxy back to back, order alternating,
      // short runs; a ratio is taken within each pair, so load that shifts between rounds
      // (2 shared cores, other engineers' work) cancels out better than in medians of rounds.
      const [nb, bb] = [paths[2], paths[3]];
      for (let i = 0; i < args.pairs; i++) {
        const order = i % 2 ? [ha, bb, nb] : [nb, bb, ha];
        const row: Record<string, { sat: number; fixed: number; p50: number; p99: number }> = {};
        for (const p of order) {
          const c0 = cpuOf(p.pids);
          const w = parseWrk((await runToEnd('wrk', ['-t1', `-c${args.connections}`, '-d3s', `http://127.0.0.1:${p.port}/`], { core: CLIENT_CORE, timeoutMs: 30_000 })).stdout);
          const c1 = cpuOf(p.pids);
          await sleep(1000);
          const c2 = cpuOf(p.pids);
          const fr = await fixedRate(p.port, args.rate, 3, args.connections);
          const c3 = cpuOf(p.pids);
          row[p.name] = { sat: (c1 - c0) / w.requests, fixed: (c3 - c2) / fr.ok, p50: percentile(fr.latenciesMs, 50), p99: percentile(fr.latenciesMs, 99) };
        }
        const [n, b, h] = [row[nb.name], row[bb.name], row[ha.name]];
        paired.push({ build: n, baseline: b, haproxy: h });
        console.log(`pair ${i + 1}: CPU µs/req saturated ${round(n.sat)} / baseline ${round(b.sat)} / haproxy ${round(h.sat)}; @${args.rate}/s ${round(n.fixed)} / ${round(b.fixed)} / ${round(h.fixed)}`);
      }
    }
    if (profDir) {
      for (const c of kuma.children) {
        await stopChild(c, 10_000);
        const f = newestProfile(path.join(profDir, c.name.replace('kuma-dp-', '')));
        const top = f ? topSelfTime(f, 15) : ['(no profile written)'];
        profiles.push(`${c.name}: ${top.join('; ')}`);
        console.log(`${c.name} CPU profile (self time):\n  ${top.join('\n  ')}`);
      }
    }
  } finally {
    await stopAllChildren();
    await cp?.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  // Table order: no proxy, haproxy, kuma-dp (as the paths were built).
  const names = pathNames;
  const agg = names.map((n) => {
    const rs = rounds.filter((r) => r.path === n);
    return {
      path: n,
      rps: median(rs.map((r) => r.rps)),
      rpsAll: rs.map((r) => Math.round(r.rps)),
      cpuSat: median(rs.map((r) => r.cpuUsPerReqSaturated)),
      cpuFixed: median(rs.map((r) => r.cpuUsPerReqFixed)),
      p50: median(rs.map((r) => r.fixed.p50Ms)),
      p99: median(rs.map((r) => r.fixed.p99Ms)),
      p999: median(rs.map((r) => r.fixed.p999Ms)),
      rss: rs.length ? rs[rs.length - 1].rssMiB : [],
    };
  });
  const [direct, ha, kuma] = agg;
  const baseline = agg.find((a) => a.path.endsWith('[baseline build]'));
  const floor = agg.find((a) => a.path === NODE_FLOOR);
  const rawFloor = agg.find((a) => a.path === RAW_FLOOR);
  const table: Table = {
    title: `Proxy path, HTTP/1.1 keep-alive, ${args.connections} connections: wrk ${args.seconds} s saturating, then ${args.rate} req/s for ${args['latency-seconds']} s (medians of ${args.rounds} rounds)`,
    columns: ['path', 'req/s (wrk)', 'per round', 'proxy CPU µs/req (saturated)', `proxy CPU µs/req (@${args.rate}/s)`, `p50 (ms)`, `p99 (ms)`, 'added p50 (ms)', 'added p99 (ms)', 'proxy RSS (MiB)'],
    rows: agg.map((a) => [
      a.path,
      Math.round(a.rps),
      a.rpsAll.join(' / '),
      round(a.cpuSat),
      round(a.cpuFixed),
      round(a.p50),
      round(a.p99),
      a === direct ? '–' : round(a.p50 - direct.p50),
      a === direct ? '–' : round(a.p99 - direct.p99),
      a.rss.length ? a.rss.map((x) => round(x)).join(' + ') : '–',
    ]),
  };
  printTable(table);
  const tables = [table];
  if (paired.length) {
    const med = (f: (p: (typeof paired)[number]) => number) => round(median(paired.map(f)));
    const pt: Table = {
      title: `Paired A/B, ${paired.length} pairs (wrk 3 s, then ${args.rate} req/s for 3 s, per path; order alternating): medians of per-pair values`,
      columns: ['measure', 'this build', 'baseline build', 'haproxy pair', 'this / baseline (median of pair ratios)', 'this / haproxy (median of pair ratios)'],
      rows: [
        ['proxy CPU µs/req, saturated', med((p) => p.build.sat), med((p) => p.baseline.sat), med((p) => p.haproxy.sat), med((p) => p.build.sat / p.baseline.sat), med((p) => p.build.sat / p.haproxy.sat)],
        [`proxy CPU µs/req @${args.rate}/s`, med((p) => p.build.fixed), med((p) => p.baseline.fixed), med((p) => p.haproxy.fixed), med((p) => p.build.fixed / p.baseline.fixed), med((p) => p.build.fixed / p.haproxy.fixed)],
        [`p50 ms @${args.rate}/s`, med((p) => p.build.p50), med((p) => p.baseline.p50), med((p) => p.haproxy.p50), '–', '–'],
        [`p99 ms @${args.rate}/s`, med((p) => p.build.p99), med((p) => p.baseline.p99), med((p) => p.haproxy.p99), '–', '–'],
      ],
    };
    printTable(pt);
    tables.push(pt);
  }
  const cpuRatio = kuma.cpuFixed / ha.cpuFixed;
  const cpuRatioSat = kuma.cpuSat / ha.cpuSat;
  const addedK = kuma.p99 - direct.p99;
  const addedH = ha.p99 - direct.p99;
  const verdicts = [
    `CPU per request, kuma-dp pair / haproxy pair: ${round(cpuRatio)}× at ${args.rate} req/s, ${round(cpuRatioSat)}× saturated (target ≤ 1.25×): ${cpuRatio <= 1.25 ? 'met' : 'NOT met'}`,
    `added p99 at ${args.rate} req/s: kuma-dp ${round(addedK)} ms vs haproxy ${round(addedH)} ms (target ≤ haproxy's): ${addedK <= addedH ? 'met' : 'NOT met'}`,
    ...(baseline
      ? [`against the baseline build in the same run: CPU µs/req @${args.rate}/s ${round(kuma.cpuFixed)} vs ${round(baseline.cpuFixed)} (${round(kuma.cpuFixed / baseline.cpuFixed)}×), saturated ${round(kuma.cpuSat)} vs ${round(baseline.cpuSat)} (${round(kuma.cpuSat / baseline.cpuSat)}×), p99 ${round(kuma.p99)} vs ${round(baseline.p99)} ms, req/s ${Math.round(kuma.rps)} vs ${Math.round(baseline.rps)}`]
      : []),
    ...(floor
      ? [
          `Node floor (L4 relays, no HTTP) / haproxy pair: ${round(floor.cpuFixed / ha.cpuFixed)}× at ${args.rate} req/s, ${round(floor.cpuSat / ha.cpuSat)}× saturated; kuma-dp / Node floor: ${round(kuma.cpuFixed / floor.cpuFixed)}× at ${args.rate} req/s, ${round(kuma.cpuSat / floor.cpuSat)}× saturated`,
        ]
      : []),
    ...(rawFloor && floor
      ? [
          `raw-handle relays / Node floor: ${round(rawFloor.cpuFixed / floor.cpuFixed)}× at ${args.rate} req/s, ${round(rawFloor.cpuSat / floor.cpuSat)}× saturated; raw-handle relays / haproxy pair: ${round(rawFloor.cpuFixed / ha.cpuFixed)}× and ${round(rawFloor.cpuSat / ha.cpuSat)}×`,
        ]
      : []),
    `throughput: kuma-dp ${Math.round(kuma.rps)} req/s vs haproxy ${Math.round(ha.rps)} req/s (${round(kuma.rps / ha.rps)}×), no proxy ${Math.round(direct.rps)} req/s`,
  ];
  for (const v of verdicts) console.log(v);
  const files = writeResults({
    bench: args['cpu-prof'] ? 'proxy-path-profile' : 'proxy-path',
    params: { seconds: args.seconds, rate: args.rate, latencySeconds: args['latency-seconds'], connections: args.connections, rounds: args.rounds, proxyCore: PROXY_CORE, clientCore: CLIENT_CORE, baselineBuild: !!baselineAgent, baselineNodeArgs: baselineNodeArgs().join(' ') },
    data: { aggregate: agg, rounds, paired },
    tables,
    verdicts,
    notes: [
      `Proxies pinned to core ${PROXY_CORE}; wrk, the fixed-rate client (this process), the app (Node http, 26-byte JSON body) and kuma-cp on core ${CLIENT_CORE}.`,
      'kuma-dp pair: two `kuma-dp run --engine=embedded` processes configured over ADS by `kuma-cp run` standalone (mesh default with a builtin CA, HTTP services, TrafficPermission allow-all, identity certificates RSA 2048, SPIFFE checked by the inbound RBAC).',
      'haproxy pair: two haproxy 2.6 processes (nbthread 1, mode http, http-reuse always); the outbound one originates TLS with a client certificate and verifies the server (CA + name); the inbound one terminates TLS and requires a client certificate from the CA. Certificates: openssl, RSA 2048, SPIFFE URI SANs (haproxy does not check them).',
      'wrk: 1 thread, keep-alive; its latency percentiles are under saturation. Fixed-rate latency: bench/harness/fixed-rate.ts (keep-alive pool, latency from the scheduled send time: no coordinated omission), started 2 s after wrk and after a discarded 1 s warm-up at the same rate, so it is the steady state (the kuma-dp pair shows 100+ ms stalls for ~0.25-1 s right after a saturating run or a cold start).',
      'Proxy CPU µs/request = utime+stime delta (/proc/<pid>/stat, both proxy processes) / completed requests; the kuma-dp processes include their idle agent work (readiness, VIP polling) in that number.',
      'Rounds rotate the order of the paths, so background load hits each alike.',
      ...(floor
        ? [
            'Node floor: two bench/harness/node-relay.js processes relaying bytes (plain → mutual TLS with the haproxy pair\'s certificates → plain), one upstream connection per downstream connection, no HTTP parsing, routing or pooling: what any engine on Node\'s net/tls streams does at least per request. Outgoing sockets read with `onread` into a reused buffer. Each new client connection costs the floor a TLS handshake (no pooling), so its CPU includes ~16 RSA handshakes per run (an overestimate of the floor) and its latency percentiles mostly show those handshakes, not the relay.',
          ]
        : []),
      ...(rawFloor
        ? [
            "Raw-handle relays (--raw-floor=1): the same two relays, but once both sockets are connected each native handle's read callback writes straight to the other handle with a bare WriteWrap (process.binding('stream_wrap')), skipping net/tls's Readable/Writable, events and ticks; one write in flight per handle (TLS asserts it), no backpressure. Shows what leaving Node's public stream API would buy; kuma-dp does not do it.",
          ]
        : []),
      ...profiles.map((p) => `CPU PROFILE RUN (numbers inflated by the profiler): ${p}`),
    ],
    context: { before, after: runContext() },
  });
  console.log(`results: ${path.relative(process.cwd(), files.json)}, ${path.relative(process.cwd(), files.md)}`);
}

main().catch(async (err) => {
  console.error(`proxy-path: ${(err as Error).stack ?? err}`);
  await stopAllChildren();
  process.exit(1);
});
