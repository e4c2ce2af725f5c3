/**
 * DNS throughput and latency (issue 4): kuma-dp's DNS server against dnsmasq serving the
 * same `.mesh` names, in one run. Each server is pinned to core 1 with taskset; dnsperf
 * runs on core 0. Per round and server: a saturating run (dnsperf, 100 queries
 * outstanding) for queries/s and server CPU per query, then a fixed-rate run (`dnsperf -Q`)
 * whose per-query latencies (`-v`) give p50/p99. Rounds alternate the servers so that
 * background load hits both alike; the table reports the median over rounds. A third
 * process, the node:dgram floor (bench/harness/dgram-floor.ts), answers with a fixed
 * record and no DNS logic at all: the ceiling for a Node DNS server on one core.
 *
 * Usage: node dist/bench/dns-throughput.js [--names=200] [--seconds=10] [--rate=2000]
 *        [--latency-seconds=5] [--rounds=3] [--full-dp=1]
 * --full-dp=1 (default) also measures the whole `kuma-dp run --dns-enabled` process (VIPs
 * from a real `kuma-cp run` on core 0), beside the DNS component alone.
 * --cpu-prof=1 runs the DNS component under `node --cpu-prof` and records its top
 * functions by self time (diagnosis: the profiler costs throughput).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startChild, stopChild, runToEnd, stopAllChildren, stopChildrenOnSignal, type Child } from './harness/children';
import { cpuMicros, mib, rssBytes } from './harness/proc-stats';
import { median, percentile, round } from './harness/stats';
import { runContext } from './harness/run-context';
import { printTable, writeResults, type Table } from './harness/results';
import { parseArgs } from './harness/args';
import { newestProfile, topSelfTime } from './harness/cpu-profile';
import { freePort, startStandaloneCp, until, type StandaloneCp } from './harness/standalone-cp';

const SERVER_CORE = 1;
const FLOOR = 'node:dgram floor (reference, fixed answer)';
const CLIENT_CORE = 0;

interface DnsperfResult {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  avgLatencyMs: number;
  noerror: number;
}

interface ServerRound {
  server: string;
  round: number;
  qps: number;
  lost: number;
  avgLatencyMsSaturated: number;
  cpuUsPerQuery: number;
  rssMiB: number;
  fixedRate: { rate: number; answered: number; p50Ms: number; p99Ms: number; maxMs: number };
}

function parseDnsperf(out: string): DnsperfResult {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) throw new Error(`dnsperf output lacks ${re}: ${out.slice(-600)}`);
    return Number(m[1]);
  };
  return {
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    noerror: /NOERROR (\d+)/.test(out) ? num(/NOERROR (\d+)/) : 0,
  };
}

/** Per-query latencies in ms from `dnsperf -v` lines (`> NOERROR name A 0.000123`). */
function verboseLatencies(out: string): number[] {
  const lat: number[] = [];
  for (const m of out.matchAll(/^> (\S+) \S+ \S+ ([\d.]+)$/gm)) {
    if (m[1] !== 'NOERROR') throw new Error(`unexpected rcode ${m[1]} in fixed-rate run`);
    lat.push(Number(m[2]) * 1000);
  }
  return lat;
}

async function checkAnswers(port: number, vips: Record<string, string>, server: string): Promise<void> {
  const names = Object.keys(vips).sort();
  for (const svc of [names[0], names[Math.floor(names.length / 2)], names[names.length - 1]]) {
    // Retries: on a loaded machine a server still settling in may miss one 2 s window.
    const r = await runToEnd('dig', ['@127.0.0.1', '-p', String(port), `${svc}.mesh`, 'A', '+short', '+tries=3', '+time=2'], { timeoutMs: 10_000 });
    if (r.stdout.trim().split('\n').pop() !== vips[svc]) throw new Error(`${server} answered ${svc}.mesh with ${JSON.stringify(r.stdout.trim())}, expected ${vips[svc]}`);
  }
}

/** The floor answers every name with one fixed A record. */
async function checkFloor(port: number): Promise<void> {
  const r = await runToEnd('dig', ['@127.0.0.1', '-p', String(port), '+noedns', 'svc-0.mesh', 'A', '+short', '+tries=1', '+time=2'], { timeoutMs: 5000 });
  if (r.stdout.trim() !== '192.0.2.1') throw new Error(`the dgram floor answered ${JSON.stringify(r.stdout.trim())}`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { names: 200, seconds: 10, rate: 2000, 'latency-seconds': 5, rounds: 3, 'full-dp': 1, 'cpu-prof': 0 });
  const names = args.names;
  stopChildrenOnSignal();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-dns-'));
  const before = runContext();
  // The names and VIPs come from a real kuma-cp (the VIP allocator) when the whole kuma-dp
  // process is measured, so that all three servers answer the same names with the same IPs.
  let cp: StandaloneCp | undefined;
  let vips: Record<string, string> = {};
  if (args['full-dp']) {
    cp = await startStandaloneCp({ core: CLIENT_CORE });
    for (let i = 0; i < names; i += 8) {
      await Promise.all(
        Array.from({ length: Math.min(8, names - i) }, (_, k) =>
          cp!.put({ type: 'Dataplane', mesh: 'default', name: `svc-${i + k}-1`, networking: { address: '127.0.0.1', inbound: [{ port: 41000 + i + k, servicePort: 51000 + i + k, tags: { 'kuma.io/service': `svc-${i + k}` } }] } }),
        ),
      );
    }
    await until(async () => Object.keys((vips = await cp!.vips())).filter((k) => k.startsWith('svc-')).length >= names, 60_000, `${names} VIPs from kuma-cp`);
    vips = Object.fromEntries(Object.entries(vips).filter(([k]) => k.startsWith('svc-')));
  } else {
    for (let i = 0; i < names; i++) vips[`svc-${i}`] = `240.0.${Math.floor(i / 250)}.${(i % 250) + 1}`;
  }
  fs.writeFileSync(path.join(dir, 'vips.json'), JSON.stringify({ mesh: 'default', ttl: 60, vips }));
  fs.writeFileSync(path.join(dir, 'hosts'), Object.entries(vips).map(([s, ip]) => `${ip} ${s}.mesh`).join('\n') + '\n');
  // Every name once, in a fixed scrambled order (stride coprime with the count), so
  // neither server gets a cache-friendly sequence.
  const order: number[] = [];
  const stride = [7919, 104729, 1299709].find((p) => names % p !== 0) ?? 1;
  for (let k = 0; k < names; k++) order.push((k * stride) % names);
  fs.writeFileSync(path.join(dir, 'queries.txt'), order.map((i) => `svc-${i}.mesh A`).join('\n') + '\n');

  const hostJs = path.resolve(__dirname, 'harness/dns-host.js');
  const servers: { name: string; start: () => Promise<{ child: Child; port: number }> }[] = [
    ...(['native', 'js'] as const).map((fastPath) => ({
      name: `kuma-dp DNS (agent/dns, ${fastPath} fast path)`,
      start: async () => {
        const prof = args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.join(dir, 'profiles')}`] : [];
        const child = startChild(`kuma-dp-dns-${fastPath}`, process.execPath, [...prof, hostJs, path.join(dir, 'vips.json'), '0', fastPath], { core: SERVER_CORE });
        const line = await child.waitForLine(/"msg":"ready"/);
        const ready = JSON.parse(line) as { port: number; fastPath: string };
        if (ready.fastPath !== fastPath) throw new Error(`dns-host answers with the ${ready.fastPath} fast path, not ${fastPath}`);
        return { child, port: ready.port };
      },
    })),
    ...(cp
      ? [
          {
            name: 'kuma-dp run (whole process, embedded engine)',
            start: async () => {
              const port = await freePort();
              const f = path.join(dir, 'dataplane.yaml');
              fs.writeFileSync(f, ['type: Dataplane', 'mesh: default', 'name: bench', 'networking:', '  address: 127.0.0.1', '  inbound:', `  - port: ${await freePort()}`, '    servicePort: 18080', '    tags:', '      kuma.io/service: bench', ''].join('\n'));
              const child = startChild(
                'kuma-dp',
                process.execPath,
                [path.resolve(__dirname, '../agent/main.js'), 'run', `--cp-address=https://127.0.0.1:${cp!.dpPort}`, `--dataplane-file=${f}`, `--ca-cert-file=${cp!.dpCaFile}`, '--engine=embedded', '--dns-enabled', `--dns-proxy-port=${port}`, '--dns-upstream=127.0.0.1:9', '--drain-time=0s', '--log-level=warn'],
                { core: SERVER_CORE },
              );
              await until(async () => (await runToEnd('dig', ['@127.0.0.1', '-p', String(port), 'svc-0.mesh', 'A', '+short', '+tries=1', '+time=1'], { timeoutMs: 3000 })).stdout.trim() === vips['svc-0'], 60_000, 'kuma-dp answering svc-0.mesh', 200);
              return { child, port };
            },
          },
        ]
      : []),
    {
      // Not a DNS server: the cost of Node's UDP machinery alone (bench/harness/dgram-floor.ts).
      name: FLOOR,
      start: async () => {
        const child = startChild('dgram-floor', process.execPath, [path.resolve(__dirname, 'harness/dgram-floor.js')], { core: SERVER_CORE });
        const line = await child.waitForLine(/"msg":"ready"/);
        return { child, port: JSON.parse(line).port as number };
      },
    },
    {
      name: `dnsmasq`,
      start: async () => {
        const port = 20000 + Math.floor(Math.random() * 20000);
        const child = startChild(
          'dnsmasq',
          'dnsmasq',
          ['--no-daemon', '--no-resolv', '--no-hosts', `--addn-hosts=${path.join(dir, 'hosts')}`, '--local=/mesh/', '-p', String(port), '--listen-address=127.0.0.1', '--bind-interfaces', '-C', '/dev/null', '--cache-size=1000', '--log-facility=-'],
          { core: SERVER_CORE },
        );
        await child.waitForLine(/read .*hosts - \d+ names|started, version/);
        return { child, port };
      },
    },
  ];

  const rounds: ServerRound[] = [];
  let profile: string[] = [];
  try {
    for (let round = 1; round <= args.rounds; round++) {
      for (const s of round % 2 === 1 ? servers : [...servers].reverse()) {
        const { child, port } = await s.start();
        try {
          if (s.name === FLOOR) await checkFloor(port);
          else await checkAnswers(port, vips, s.name);
          // Warm-up (JIT, caches), not recorded.
          await runToEnd('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', path.join(dir, 'queries.txt'), '-l', '1', '-q', '100'], { core: CLIENT_CORE, timeoutMs: 20_000 });
          const cpu0 = cpuMicros(child.pid)!;
          const sat = await runToEnd('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', path.join(dir, 'queries.txt'), '-l', String(args.seconds), '-q', '100'], {
            core: CLIENT_CORE,
            timeoutMs: (args.seconds + 20) * 1000,
          });
          const cpu1 = cpuMicros(child.pid)!;
          const r = parseDnsperf(sat.stdout);
          if (r.noerror !== r.completed) throw new Error(`${s.name}: ${r.completed - r.noerror} answers were not NOERROR`);
          const fixed = await runToEnd(
            'dnsperf',
            ['-s', '127.0.0.1', '-p', String(port), '-d', path.join(dir, 'queries.txt'), '-l', String(args['latency-seconds']), '-Q', String(args.rate), '-q', '100', '-v'],
            { core: CLIENT_CORE, timeoutMs: (args['latency-seconds'] + 20) * 1000 },
          );
          const lat = verboseLatencies(fixed.stdout);
          rounds.push({
            server: s.name,
            round,
            qps: r.qps,
            lost: r.lost,
            avgLatencyMsSaturated: r.avgLatencyMs,
            cpuUsPerQuery: (cpu1 - cpu0) / r.completed,
            rssMiB: mib(rssBytes(child.pid)),
            fixedRate: { rate: args.rate, answered: lat.length, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), maxMs: percentile(lat, 100) },
          });
          console.log(`round ${round} ${s.name}: ${Math.round(r.qps)} q/s, lost ${r.lost}, fixed-rate p50 ${round3(percentile(lat, 50))} ms p99 ${round3(percentile(lat, 99))} ms`);
        } finally {
          await stopChild(child);
          if (args['cpu-prof'] && child.name === 'kuma-dp-dns-js') {
            const f = newestProfile(path.join(dir, 'profiles'));
            if (f) profile = topSelfTime(f, 15);
          }
        }
      }
    }
  } finally {
    await stopAllChildren();
    await cp?.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const per = (server: string) => rounds.filter((r) => r.server === server);
  const agg = servers.map((s) => {
    const rs = per(s.name);
    return {
      server: s.name,
      qps: median(rs.map((r) => r.qps)),
      qpsAll: rs.map((r) => Math.round(r.qps)),
      cpuUsPerQuery: median(rs.map((r) => r.cpuUsPerQuery)),
      avgLatencyMsSaturated: median(rs.map((r) => r.avgLatencyMsSaturated)),
      p50Ms: median(rs.map((r) => r.fixedRate.p50Ms)),
      p99Ms: median(rs.map((r) => r.fixedRate.p99Ms)),
      rssMiB: median(rs.map((r) => r.rssMiB)),
      lost: rs.reduce((a, r) => a + r.lost, 0),
    };
  });
  const kuma = agg[0];
  const kumaJs = agg[1];
  const full = agg.find((a) => a.server.startsWith('kuma-dp run'));
  const dnsmasq = agg.find((a) => a.server === 'dnsmasq')!;
  const floor = agg.find((a) => a.server === FLOOR)!;
  const ratio = kuma.qps / dnsmasq.qps;
  const table: Table = {
    title: `DNS: ${names} .mesh names, A queries, ${args.rounds} rounds × ${args.seconds} s saturating + ${args['latency-seconds']} s at ${args.rate} q/s (medians over rounds)`,
    columns: ['server', 'queries/s', 'per round', 'vs dnsmasq', 'CPU µs/query', 'avg latency saturated (ms)', `p50 @${args.rate}/s (ms)`, `p99 @${args.rate}/s (ms)`, 'RSS (MiB)', 'lost'],
    rows: agg.map((a) => [a.server, Math.round(a.qps), a.qpsAll.join(' / '), `${round(a.qps / dnsmasq.qps)}×`, round(a.cpuUsPerQuery), round(a.avgLatencyMsSaturated), round3(a.p50Ms), round3(a.p99Ms), round(a.rssMiB), a.lost]),
  };
  printTable(table);
  const verdicts = [
    `queries/s ratio kuma-dp DNS component (native fast path, the default where built) / dnsmasq = ${round(ratio)}× (target ≥ 1.0×): ${ratio >= 1 ? 'met' : 'NOT met'}`,
    `queries/s ratio kuma-dp DNS component with --dns-fast-path=js / dnsmasq = ${round(kumaJs.qps / dnsmasq.qps)}× (the fallback where the addon is not built)`,
    ...(full ? [`queries/s ratio whole kuma-dp process / dnsmasq = ${round(full.qps / dnsmasq.qps)}× (target ≥ 1.0×): ${full.qps >= dnsmasq.qps ? 'met' : 'NOT met'}`] : []),
    `ceiling of any node:dgram server on one core: floor / dnsmasq = ${round(floor.qps / dnsmasq.qps)}×; kuma-dp's JS fast path reaches ${round(kumaJs.qps / floor.qps)}× of the floor, the native one ${round(kuma.qps / floor.qps)}×`,
    `CPU per query (whole process, every thread): kuma-dp native ${round(kuma.cpuUsPerQuery)} µs, JS ${round(kumaJs.cpuUsPerQuery)} µs vs dnsmasq ${round(dnsmasq.cpuUsPerQuery)} µs (${round(kuma.cpuUsPerQuery / dnsmasq.cpuUsPerQuery)}×); dgram floor ${round(floor.cpuUsPerQuery)} µs`,
    `fixed-rate p50 latency: kuma-dp ${round3(kuma.p50Ms)} ms vs dnsmasq ${round3(dnsmasq.p50Ms)} ms; p99 ${round3(kuma.p99Ms)} vs ${round3(dnsmasq.p99Ms)} ms`,
  ];
  for (const v of verdicts) console.log(v);
  if (profile.length) console.log(`kuma-dp DNS component CPU profile (self time):\n  ${profile.join('\n  ')}`);
  const files = writeResults({
    bench: args['cpu-prof'] ? 'dns-throughput-profile' : 'dns-throughput',
    params: { names, fullKumaDp: !!args['full-dp'], seconds: args.seconds, rounds: args.rounds, fixedRate: args.rate, latencySeconds: args['latency-seconds'], serverCore: SERVER_CORE, clientCore: CLIENT_CORE },
    data: { aggregate: agg, rounds },
    tables: [table],
    verdicts,
    notes: [
      `Servers pinned with taskset -c ${SERVER_CORE}, dnsperf (udp, 1 client, up to 100 queries outstanding) with taskset -c ${CLIENT_CORE}; one server runs at a time; rounds alternate the order.`,
      ...(full ? ['The whole kuma-dp process: `kuma-dp run --engine=embedded --dns-enabled` bootstrapped by `kuma-cp run` standalone (core 0, memory store, authn none), which also allocated the VIPs all three servers answer with; it binds one VIP listener per service besides serving DNS.'] : []),
      'kuma-dp DNS is agent/dns/DnsServer run alone in a Node process (bench/harness/dns-host.ts) with the VIP table built by VipTable.build; no upstreams, so only .mesh names are asked. "native fast path": the default where the addon is built (native/kuma_dns.c: a worker thread answering table names with recvmmsg/sendmmsg batches of up to 64; the rest goes to the JS server); "js fast path": --dns-fast-path=js, every datagram through node:dgram and agent/dns/fast-path.ts. The process, both threads, is pinned to the one server core.',
      `${FLOOR}: bench/harness/dgram-floor.ts answers every datagram with the query turned into a response plus one fixed A record, through the public dgram API with no parsing, lookup or metrics. It is what Node's UDP path costs per query (receive buffer allocation, the rinfo object, the JS callback, SendWrap, two syscalls), so floor / dnsmasq bounds what any single-process node:dgram DNS server can reach on one core.`,
      'dnsmasq 2.x serves the same names from an --addn-hosts file with --local=/mesh/ (authoritative-like: no forwarding), cache 1000.',
      'Latency percentiles come from dnsperf -v per-query times at a fixed rate (-Q), which measure client-observed round trips on loopback; saturated average latency is queueing-dominated.',
      ...(profile.length ? [`CPU PROFILE RUN (the profiler costs throughput). kuma-dp DNS component, self time of the last round (idle excluded): ${profile.join('; ')}`] : []),
      'CPU µs/query = server utime+stime delta (/proc/<pid>/stat) over the saturating run divided by completed queries.',
      'The machine is shared (2 cores) with other builds and tests; see the load and busiest processes below.',
    ],
    context: { before, after: runContext() },
  });
  console.log(`results: ${path.relative(process.cwd(), files.json)}, ${path.relative(process.cwd(), files.md)}`);
}

function round3(x: number): number {
  return Number.isFinite(x) ? Number(x.toFixed(3)) : x;
}

main().catch(async (err) => {
  console.error(`dns-throughput: ${(err as Error).stack ?? err}`);
  await stopAllChildren();
  process.exit(1);
});
