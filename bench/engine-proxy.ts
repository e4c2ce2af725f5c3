/**
 * The embedded engine's cost per request against haproxy on the same paths, in one
 * run: (1) one HTTP hop (outbound HCM -> app), (2) one TCP hop (tcp_proxy), (3) the
 * sidecar pair: HTTP -> client proxy -> mTLS -> server proxy -> app. Each proxy runs in
 * its own process pinned to core 1 (both engines of the pair share one Node process,
 * both haproxy hops share one haproxy process); wrk and the app run on core 0. Per
 * round and proxy: requests/s, p50/p99 latency (wrk --latency) and proxy CPU time per
 * request from /proc. Rounds alternate the proxies; the table reports medians.
 *
 * Usage: node dist/bench/engine-proxy.js [--seconds=5] [--rounds=2] [--connections=32]
 * Env: BENCH_SCENARIOS=tcp,http (a subset; default all three); BENCH_BASELINE_BENCH=<another
 * build's dist/bench/engine-proxy.js> adds that build's engine as a third contender
 * ("embedded-baseline"), in the same rounds, for an A/B.
 * (internal roles: --role=app|engine, used by the benchmark itself)
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startChild, stopChild, runToEnd, stopAllChildren, stopChildrenOnSignal, type Child } from './harness/children';
import { cpuMicros } from './harness/proc-stats';
import { median, round } from './harness/stats';
import { runContext } from './harness/run-context';
import { printTable, writeResults, type Table } from './harness/results';
import { parseArgs } from './harness/args';
import { freePort } from '../lib/free-port';

const PROXY_CORE = 1;
const LOAD_CORE = 0;
type Scenario = 'http' | 'tcp' | 'mtls';
const SCENARIOS: Scenario[] = ['http', 'tcp', 'mtls'];

// ---------- role: app ----------
function runApp(): void {
  const body = Buffer.from('{"app":"bench","ok":true}');
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => console.log(`READY ${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}`));
}

// ---------- role: engine ----------
async function runEngine(scenario: Scenario, appPort: number, pkiDir: string): Promise<void> {
  // Lazy imports: the orchestrator never loads the engine.
  const { TestAdsServer, T } = await import('../test/integration/engine/harness/ads-server');
  const R = await import('../test/integration/engine/harness/resources');
  const { buildBootstrap } = await import('../envoy-bootstrap/index');
  const { silentLogger } = await import('../lib/logger');
  const { EmbeddedEngine } = await import('../agent/engine/embedded/embedded-engine');
  const ads = new TestAdsServer();
  await ads.start();
  const engine = async (name: string) => {
    const bootstrap = buildBootstrap({ mesh: 'default', name, proxyType: 'dataplane', service: name, cpHost: '127.0.0.1', cpPort: ads.port, cpCaPem: 'unused', adminPort: 0 });
    delete bootstrap.static_resources.clusters[0].transport_socket; // plaintext ADS for the bench
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-engine-'));
    const e = new EmbeddedEngine({ bootstrap, bootstrapPath: '', workDir, drainTimeMs: 100, logLevel: 'warn', extraArgs: [], log: silentLogger() });
    await e.start();
    return e;
  };
  const until = async (f: () => boolean) => {
    for (let i = 0; i < 400 && !f(); i++) await new Promise((r) => setTimeout(r, 25));
  };
  const app = R.localCluster(appPort);
  let port: number;
  if (scenario !== 'mtls') {
    const e = await engine('client');
    ads.set('default.client', T.Cluster, [app]);
    const terminal = scenario === 'http' ? R.hcm('out', { cluster: app.name }) : R.tcpProxy('out', app.name);
    ads.set('default.client', T.Listener, [R.outboundListener('outbound:app', 0, terminal)]);
    await until(() => e.isReady());
    port = e.listenerPort('outbound:app')!;
  } else {
    const read = (f: string) => fs.readFileSync(path.join(pkiDir, f), 'utf8');
    const ca = read('ca.pem');
    const server = await engine('web');
    ads.set('default.web', T.Secret, R.secrets({ certPem: read('web.crt'), keyPem: read('web.key') }, ca));
    ads.set('default.web', T.Cluster, [app]);
    ads.set('default.web', T.Listener, [R.inboundListener('inbound:web', 0, 'default', ['spiffe://default/frontend'], R.hcm('in', { cluster: app.name }))]);
    await until(() => server.isReady());
    const client = await engine('frontend');
    ads.set('default.frontend', T.Secret, R.secrets({ certPem: read('frontend.crt'), keyPem: read('frontend.key') }, ca));
    ads.set('default.frontend', T.Cluster, [R.meshCluster('web', 'default', 'web', 'web{mesh=default}')]);
    ads.set('default.frontend', T.ClusterLoadAssignment, [R.assignment('web', [{ port: server.listenerPort('inbound:web')! }])]);
    ads.set('default.frontend', T.Listener, [R.outboundListener('outbound:web', 0, R.hcm('out', { cluster: 'web' }))]);
    await until(() => client.isReady());
    port = client.listenerPort('outbound:web')!;
    console.error(`admin: client ${client.adminAddress()} server ${server.adminAddress()}`);
  }
  // A clean exit on a signal (so --cpu-prof can write its profile).
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(0));
  console.log(`READY ${JSON.stringify({ port })}`);
}

// ---------- orchestrator ----------

function haproxyConfig(scenario: Scenario, port: number, appPort: number, pkiDir: string, innerPort: number): string {
  const head = ['global', '  maxconn 4000', '  nbthread 1', 'defaults', `  mode ${scenario === 'tcp' ? 'tcp' : 'http'}`, '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s'];
  if (scenario !== 'mtls') return [...head, 'frontend out', `  bind 127.0.0.1:${port}`, '  default_backend app', 'backend app', `  server a 127.0.0.1:${appPort}`, ''].join('\n');
  const p = (f: string) => path.join(pkiDir, f);
  return [
    ...head,
    '  http-reuse always',
    'frontend out',
    `  bind 127.0.0.1:${port}`,
    '  default_backend mesh',
    'backend mesh',
    // haproxy verifies the chain against the mesh CA; it has no URI-SAN (SPIFFE) check.
    `  server web 127.0.0.1:${innerPort} ssl crt ${p('frontend.pem')} ca-file ${p('ca.pem')} verify required alpn kuma`,
    'frontend in',
    `  bind 127.0.0.1:${innerPort} ssl crt ${p('web.pem')} ca-file ${p('ca.pem')} verify required alpn kuma`,
    '  default_backend app',
    'backend app',
    `  server a 127.0.0.1:${appPort}`,
    '',
  ].join('\n');
}

interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const lat = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const reqLine = /(\d+) requests in ([\d.]+)(ms|s)/.exec(out);
  const errs = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: reqLine ? Number(reqLine[1]) : NaN,
    seconds: reqLine ? Number(reqLine[2]) / (reqLine[3] === 'ms' ? 1000 : 1) : NaN,
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50ms: lat('50'),
    p99ms: lat('99'),
    errors: (errs ? Number(errs[1]) : 0) + (sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0),
  };
}

async function measure(proxy: Child, port: number, seconds: number, connections: number): Promise<WrkResult & { cpuUsPerReq: number }> {
  // Warm-up: connections, TLS sessions, JIT.
  await runToEnd('wrk', ['-t1', `-c${connections}`, '-d1s', `http://127.0.0.1:${port}/`], { core: LOAD_CORE, timeoutMs: 20_000 });
  const cpu0 = cpuMicros(proxy.pid)!;
  const r = await runToEnd('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`], { core: LOAD_CORE, timeoutMs: (seconds + 30) * 1000 });
  const cpu1 = cpuMicros(proxy.pid)!;
  const w = parseWrk(r.stdout);
  if (!Number.isFinite(w.requests)) throw new Error(`wrk output not understood: ${r.stdout} ${r.stderr}`);
  return { ...w, cpuUsPerReq: (cpu1 - cpu0) / w.requests };
}

function writePki(dir: string): void {
  // Same certificates for both proxies: a mesh CA and two SPIFFE identities (test PKI).
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { createCa, identity } = require('../test/integration/engine/harness/pki');
  const ca = createCa('default');
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
  for (const svc of ['web', 'frontend']) {
    const id = identity(ca, 'default', svc);
    fs.writeFileSync(path.join(dir, `${svc}.crt`), id.certPem);
    fs.writeFileSync(path.join(dir, `${svc}.key`), id.keyPem);
    fs.writeFileSync(path.join(dir, `${svc}.pem`), id.certPem + id.keyPem);
  }
}

async function main(): Promise<void> {
  const roleArg = process.argv.find((a) => a.startsWith('--role='));
  if (roleArg) {
    const get = (k: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? '';
    if (roleArg === '--role=app') return runApp();
    return runEngine(get('scenario') as Scenario, Number(get('app')), get('pki'));
  }
  const args = parseArgs(process.argv.slice(2), { seconds: 5, rounds: 2, connections: 32 });
  const scenarios = process.env.BENCH_SCENARIOS ? (process.env.BENCH_SCENARIOS.split(',') as Scenario[]) : SCENARIOS;
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`BENCH_SCENARIOS: unknown scenario "${s}"; valid: ${SCENARIOS.join(', ')}`);
  const baselineBench = process.env.BENCH_BASELINE_BENCH ? path.resolve(process.env.BENCH_BASELINE_BENCH) : undefined;
  const proxies = baselineBench ? ['embedded', 'haproxy', 'embedded-baseline'] : ['embedded', 'haproxy'];
  stopChildrenOnSignal();
  const before = runContext();
  const pkiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-pki-'));
  writePki(pkiDir);
  const results: Record<string, (WrkResult & { cpuUsPerReq: number; round: number })[]> = {};
  const app = startChild('app', process.execPath, [__filename, '--role=app'], { core: LOAD_CORE });
  try {
    const appPort = JSON.parse((await app.waitForLine(/^READY /)).slice(6)).port;
    for (const scenario of scenarios) {
      for (let rnd = 0; rnd < args.rounds; rnd++) {
        const order = rnd % 2 === 0 ? proxies : [...proxies].reverse();
        for (const proxy of order) {
          let child: Child;
          let port: number;
          if (proxy !== 'haproxy') {
            const script = proxy === 'embedded-baseline' ? baselineBench! : __filename;
            child = startChild(proxy, process.execPath, [script, '--role=engine', `--scenario=${scenario}`, `--app=${appPort}`, `--pki=${pkiDir}`], { core: PROXY_CORE });
            port = JSON.parse((await child.waitForLine(/^READY /, 30_000)).slice(6)).port;
          } else {
            port = await freePort();
            const cfg = path.join(pkiDir, `haproxy-${scenario}.cfg`);
            fs.writeFileSync(cfg, haproxyConfig(scenario, port, appPort, pkiDir, await freePort()));
            child = startChild('haproxy', 'haproxy', ['-db', '-f', cfg], { core: PROXY_CORE });
            for (let i = 0; i < 100; i++) {
              const ok = await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').on('connect', function (this: net.Socket) { this.destroy(); r(true); }).on('error', () => r(false)));
              if (ok) break;
              await new Promise((r) => setTimeout(r, 50));
            }
          }
          try {
            const m = await measure(child, port, args.seconds, args.connections);
            (results[`${scenario}/${proxy}`] ??= []).push({ ...m, round: rnd });
            console.error(`${scenario} ${proxy} round ${rnd}: ${Math.round(m.rps)} req/s, ${round(m.cpuUsPerReq)} µs CPU/req, p99 ${m.p99ms} ms, errors ${m.errors}`);
          } finally {
            await stopChild(child);
          }
        }
      }
    }
  } finally {
    await stopAllChildren();
    fs.rmSync(pkiDir, { recursive: true, force: true });
  }
  const table: Table = {
    title: `Proxy cost per request (median of ${args.rounds} rounds, ${args.seconds}s each, wrk -c${args.connections}, proxy pinned to core ${PROXY_CORE})`,
    columns: ['path', 'proxy', 'req/s', 'CPU µs/req', 'p50 ms', 'p99 ms', 'errors', 'CPU vs haproxy'],
    rows: [],
  };
  const verdicts: string[] = [];
  for (const scenario of scenarios) {
    const med = (proxy: string, k: 'rps' | 'cpuUsPerReq' | 'p50ms' | 'p99ms' | 'errors') => median((results[`${scenario}/${proxy}`] ?? []).map((r) => r[k]));
    const hap = med('haproxy', 'cpuUsPerReq');
    for (const proxy of proxies) {
      const cpu = med(proxy, 'cpuUsPerReq');
      table.rows.push([scenario, proxy, Math.round(med(proxy, 'rps')), round(cpu), round(med(proxy, 'p50ms')), round(med(proxy, 'p99ms')), med(proxy, 'errors'), proxy === 'haproxy' ? '1.0x' : `${round(cpu / hap)}x`]);
    }
    verdicts.push(`${scenario}: the embedded engine spends ${round(med('embedded', 'cpuUsPerReq') / hap)}x haproxy's CPU per request`);
    if (baselineBench) {
      const pairs = (results[`${scenario}/embedded`] ?? []).map((r, i) => r.cpuUsPerReq / (results[`${scenario}/embedded-baseline`]?.[i]?.cpuUsPerReq ?? NaN));
      verdicts.push(`${scenario}: this build / baseline build, CPU per request: ${round(median(pairs))} (median of per-round ratios ${pairs.map((x) => round(x)).join(', ')})`);
    }
  }
  printTable(table);
  const files = writeResults({
    bench: 'engine-proxy',
    params: args,
    data: results,
    tables: [table],
    verdicts,
    notes: [
      'http: one hop, HTTP/1.1 keep-alive, outbound HCM route to a STATIC cluster; haproxy mode http.',
      'tcp: one hop, tcp_proxy; haproxy mode tcp; wrk keeps its connections, so this is mostly byte splicing.',
      'mtls: client proxy -> mTLS (RSA 2048, ALPN kuma) -> server proxy -> app; both hops in one process per proxy kind. The engine also checks the SPIFFE URI SAN and network RBAC; haproxy only verifies the chain.',
      'CPU: utime+stime of the proxy process from /proc over the measured run, divided by the requests wrk completed.',
    ],
    context: { before, after: runContext() },
  });
  console.log(`\nresults: ${path.relative(process.cwd(), files.md)}`);
}

main().catch(async (err) => {
  console.error(err);
  await stopAllChildren();
  process.exit(1);
});
