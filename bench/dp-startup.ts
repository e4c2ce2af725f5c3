/**
 * kuma-dp start-up and idle footprint (issue 4): `kuma-dp run --dns-enabled
 * --engine=embedded` against a standalone `kuma-cp run` whose mesh holds S services
 * (default 100), so the sidecar gets S VIP outbound listeners and S DNS names. Per run:
 * time from spawn to the first log line, to /ready answering 200 (engine configured),
 * to the DNS server answering a `.mesh` name with the CP's VIP, and to the last VIP
 * listener accepting; resident memory after a quiet period. Peers in the same run:
 * the bare Node runtime (the floor any Node agent pays), and the C pair that would do
 * the same job — haproxy with S TCP listeners plus dnsmasq with S names. Runs alternate
 * between kuma-dp as shipped and kuma-dp with V8's default young-generation growth during
 * start-up (agent/heap-growth.ts turned off by a user-set growth factor), or, when
 * BENCH_BASELINE_AGENT names another build's dist/agent/main.js, between this build and
 * that one (an A/B in one run); RSS is split into private (anon) and file-backed pages.
 *
 * Usage: node dist/bench/dp-startup.js [--services=100] [--runs=5] [--idle-seconds=5] [--settle-seconds=45] [--semi-space=MiB]
 * Resident memory is sampled twice: --idle-seconds after ready, and --settle-seconds after
 * ready, once V8's memory reducer (which runs ~8 s after start-up's last full GC and
 * removes several MiB) has had its turn: the settled sample is the idle footprint the
 * target is about; the early one is kept for comparison with older results.
 * --semi-space=N runs kuma-dp with NODE_OPTIONS=--max-semi-space-size=N (V8's young
 * generation, 16 MiB per semi-space by default on 64-bit), to see how much of the idle
 * RSS is garbage-collector headroom.
 */
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import dnsPacket from 'dns-packet';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startChild, stopChild, stopAllChildren, stopChildrenOnSignal, type Child } from './harness/children';
import { mib, rssBytes } from './harness/proc-stats';
import { median, round } from './harness/stats';
import { runContext } from './harness/run-context';
import { printTable, writeResults, type Table } from './harness/results';
import { parseArgs } from './harness/args';
import { freePort, httpJson, sleep, startStandaloneCp, until } from './harness/standalone-cp';

const AGENT_CORE = 1;
const CP_CORE = 0;

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** One A query over UDP (dns-packet), in-process so that polling does not fork `dig` hundreds of times. */
function queryA(port: number, name: string, timeoutMs = 20): Promise<string> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const id = Math.floor(Math.random() * 65535);
    const timer = setTimeout(() => done(''), timeoutMs);
    const done = (v: string) => {
      clearTimeout(timer);
      sock.close();
      resolve(v);
    };
    sock.on('error', () => done(''));
    sock.on('message', (msg) => {
      try {
        const res = dnsPacket.decode(msg);
        if (res.id !== id) return;
        const a = (res.answers ?? []).find((x) => x.type === 'A') as { data?: unknown } | undefined;
        done(a?.data !== undefined ? String(a.data) : '');
      } catch {
        done('');
      }
    });
    sock.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, '127.0.0.1');
  });
}

/**
 * RssAnon and RssFile of a process in MiB (proc(5)): private memory (V8 heap, malloc)
 * against file pages, mostly the node binary's own code and data, which every Node
 * process on the host maps and shares. VmRSS counts both.
 */
function rssSplit(pid: number): { anonMiB: number; fileMiB: number } {
  try {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)\\s+kB`, 'm').exec(st)?.[1] ?? NaN);
    return { anonMiB: kb('RssAnon') / 1024, fileMiB: kb('RssFile') / 1024 };
  } catch {
    return { anonMiB: NaN, fileMiB: NaN };
  }
}

/** Polls every 10 ms and returns the ms since `t0` at which `fn` first held. */
async function timeUntil(t0: number, fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  await until(fn, timeoutMs, what, 10);
  return nowMs() - t0;
}

interface Run {
  firstLogMs: number;
  readyMs: number;
  dnsMs: number;
  lastVipListenerMs: number;
  rssMiB: number;
  anonMiB: number;
  fileMiB: number;
  settledMiB: number;
  settledAnonMiB: number;
  settledFileMiB: number;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { services: 100, runs: 5, 'idle-seconds': 5, 'settle-seconds': 45, 'semi-space': 0 });
  const S = args.services;
  stopChildrenOnSignal();
  // This process (which polls) shares core 0 with the CP, away from the measured process.
  spawnSync('taskset', ['-a', '-p', '-c', String(CP_CORE), String(process.pid)], { stdio: 'ignore' });
  const before = runContext();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-dp-startup-'));
  const cp = await startStandaloneCp({ core: CP_CORE });
  const runsShipped: Run[] = [];
  const runsNoHold: Run[] = [];
  const baselineAgent = process.env.BENCH_BASELINE_AGENT ? path.resolve(process.env.BENCH_BASELINE_AGENT) : undefined;
  const altName = baselineAgent ? 'baseline build (BENCH_BASELINE_AGENT)' : 'V8 default growth at start-up (node --semi-space-growth-factor=2)';
  const peers: { name: string; startMs: number[]; rssMiB: number[]; anonMiB: number[]; fileMiB: number[] }[] = [];
  try {
    // S services, each with one (not running) instance: the CP allocates one VIP per service.
    for (let i = 0; i < S; i++) {
      await cp.put({ type: 'Dataplane', mesh: 'default', name: `svc-${i}-1`, networking: { address: '127.0.0.1', inbound: [{ port: 41000 + i, servicePort: 42000 + i, tags: { 'kuma.io/service': `svc-${i}` } }] } });
    }
    let vips: Record<string, string> = {};
    await until(async () => Object.keys((vips = await cp.vips())).length >= S, 30_000, `${S} VIPs`);
    const vipList = Object.entries(vips).filter(([s]) => s.startsWith('svc-'));
    const lastVip = vipList[vipList.length - 1][1];
    console.log(`kuma-cp: ${vipList.length} services with VIPs in ${cp.vipCidr}, VIP port ${cp.vipPort}`);

    const dpFile = path.join(dir, 'dataplane.yaml');
    const inboundPort = await freePort();
    fs.writeFileSync(
      dpFile,
      ['type: Dataplane', 'mesh: default', 'name: bench', 'networking:', '  address: 127.0.0.1', '  inbound:', `  - port: ${inboundPort}`, '    servicePort: 18080', '    tags:', '      kuma.io/service: bench', ''].join('\n'),
    );

    // Runs alternate: kuma-dp as shipped, and with V8's default young-generation growth
    // during start-up (a user-set growth factor turns agent/heap-growth.ts's hold off),
    // so the table shows what that hold is worth in the same run.
    for (let r = 1; r <= 2 * args.runs; r++) {
      const noHold = r % 2 === 0;
      const runs = noHold ? runsNoHold : runsShipped;
      const agentMain = noHold && baselineAgent ? baselineAgent : path.resolve(__dirname, '../agent/main.js');
      const nodeOptions = args['semi-space'] ? `--max-semi-space-size=${args['semi-space']}` : '';
      const [dnsPort, readyPort] = [await freePort(), await freePort()];
      const t0 = nowMs();
      const dp = startChild(
        'kuma-dp',
        process.execPath,
        [
          // Not in NODE_OPTIONS, which refuses this V8 flag.
          ...(noHold && !baselineAgent ? ['--semi-space-growth-factor=2'] : []),
          agentMain,
          'run',
          `--cp-address=https://127.0.0.1:${cp.dpPort}`,
          `--dataplane-file=${dpFile}`,
          `--ca-cert-file=${cp.dpCaFile}`,
          '--engine=embedded',
          '--dns-enabled',
          `--dns-proxy-port=${dnsPort}`,
          '--dns-upstream=127.0.0.1:9',
          `--readiness-port=${readyPort}`,
          '--drain-time=0s',
          `--config-dir=${path.join(dir, `run-${r}`)}`,
        ],
        { core: AGENT_CORE, env: nodeOptions ? { ...process.env, NODE_OPTIONS: nodeOptions } : process.env },
      );
      try {
        const first = dp.waitForLine(/./, 10_000).then(() => nowMs() - t0);
        const ready = timeUntil(t0, async () => (await httpJson(`http://127.0.0.1:${readyPort}/ready`, 'GET', undefined, { timeoutMs: 1000 })).status === 200, 30_000, 'kuma-dp /ready');
        const dns = timeUntil(t0, async () => (await queryA(dnsPort, 'svc-0.mesh')) === vips['svc-0'], 30_000, 'svc-0.mesh answered with its VIP');
        const listener = timeUntil(t0, () => accepts(lastVip, cp.vipPort), 30_000, `VIP listener ${lastVip}:${cp.vipPort}`);
        const [firstLogMs, readyMs, dnsMs, lastVipListenerMs] = await Promise.all([first, ready, dns, listener]);
        await sleep(args['idle-seconds'] * 1000);
        const rssMiB = mib(rssBytes(dp.pid));
        const { anonMiB, fileMiB } = rssSplit(dp.pid);
        await sleep(Math.max(0, args['settle-seconds'] - args['idle-seconds']) * 1000);
        const settledMiB = mib(rssBytes(dp.pid));
        const settled = rssSplit(dp.pid);
        runs.push({ firstLogMs, readyMs, dnsMs, lastVipListenerMs, rssMiB, anonMiB, fileMiB, settledMiB, settledAnonMiB: settled.anonMiB, settledFileMiB: settled.fileMiB });
        console.log(
          `run ${Math.ceil(r / 2)}${noHold ? ` (${altName})` : ''}: first log ${round(firstLogMs)} ms, ready ${round(readyMs)} ms, DNS ${round(dnsMs)} ms, last VIP listener ${round(lastVipListenerMs)} ms, RSS ${round(rssMiB)} MiB (anon ${round(anonMiB)}, file ${round(fileMiB)}), settled ${round(settledMiB)} MiB (anon ${round(settled.anonMiB)}, file ${round(settled.fileMiB)})`,
        );
      } finally {
        await stopChild(dp, 10_000);
      }
    }

    // Peers, same machine, same moment.
    const peer = (name: string) => ({ name, startMs: [] as number[], rssMiB: [] as number[], anonMiB: [] as number[], fileMiB: [] as number[] });
    const sample = (p: ReturnType<typeof peer>, pid: number) => {
      p.rssMiB.push(mib(rssBytes(pid)));
      const { anonMiB, fileMiB } = rssSplit(pid);
      p.anonMiB.push(anonMiB);
      p.fileMiB.push(fileMiB);
    };
    const node = peer('node (bare runtime: first line, idle)');
    const ha = peer(`haproxy (${S} TCP listeners, nbthread 1)`);
    const dm = peer(`dnsmasq (${S} names)`);
    peers.push(node, ha, dm);
    const haCfg = path.join(dir, 'haproxy.cfg');
    const haPort = await freePort();
    const haIp = (i: number) => `127.65.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    fs.writeFileSync(
      haCfg,
      ['global', '  nbthread 1', '  maxconn 4096', 'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s']
        .concat(...Array.from({ length: S }, (_, i) => [`listen out-${i}`, `  bind ${haIp(i)}:${haPort}`, `  server s1 127.0.0.1:${42000 + i}`]))
        .join('\n') + '\n',
    );
    const hosts = path.join(dir, 'hosts');
    fs.writeFileSync(hosts, vipList.map(([s, ip]) => `${ip} ${s}.mesh`).join('\n') + '\n');
    for (let r = 1; r <= args.runs; r++) {
      let t0 = nowMs();
      const n: Child = startChild('node', process.execPath, ['-e', "process.stderr.write('{}\\n'); setInterval(() => {}, 1e6)"], { core: AGENT_CORE });
      node.startMs.push(await n.waitForLine(/./).then(() => nowMs() - t0));
      await sleep(args['idle-seconds'] * 1000);
      sample(node, n.pid);
      await stopChild(n);

      t0 = nowMs();
      const h = startChild('haproxy', 'haproxy', ['-db', '-f', haCfg], { core: AGENT_CORE });
      ha.startMs.push(await timeUntil(t0, () => accepts(haIp(S - 1), haPort), 10_000, 'haproxy last listener'));
      await sleep(args['idle-seconds'] * 1000);
      sample(ha, h.pid);
      await stopChild(h);

      const dmPort = await freePort();
      t0 = nowMs();
      const d = startChild('dnsmasq', 'dnsmasq', ['--no-daemon', '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`, '--local=/mesh/', '-p', String(dmPort), '--listen-address=127.0.0.1', '--bind-interfaces', '-C', '/dev/null'], { core: AGENT_CORE });
      dm.startMs.push(await timeUntil(t0, async () => (await queryA(dmPort, 'svc-0.mesh')) === vips['svc-0'], 10_000, 'dnsmasq answer'));
      await sleep(args['idle-seconds'] * 1000);
      sample(dm, d.pid);
      await stopChild(d);
    }
  } finally {
    await stopAllChildren();
    await cp.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const med = (f: (r: Run) => number) => median(runsShipped.map(f));
  const medNoHold = (f: (r: Run) => number) => median(runsNoHold.map(f));
  const [node, ha, dm] = peers;
  const table: Table = {
    title: `kuma-dp start-up and idle RSS with ${S} VIP outbounds (embedded engine + DNS${args['semi-space'] ? `, --max-semi-space-size=${args['semi-space']}` : ''}), medians of ${args.runs} runs`,
    columns: ['process', 'first log line (ms)', 'ready (ms)', 'DNS answers VIP (ms)', `last of ${S} VIP listeners (ms)`, `RSS ${args['idle-seconds']} s after ready (MiB)`, 'of which anon (MiB)', 'of which file (MiB)', `RSS settled, ${args['settle-seconds']} s (MiB)`, 'settled anon / file (MiB)'],
    rows: [
      ['kuma-dp run --engine=embedded --dns-enabled', round(med((r) => r.firstLogMs)), round(med((r) => r.readyMs)), round(med((r) => r.dnsMs)), round(med((r) => r.lastVipListenerMs)), round(med((r) => r.rssMiB)), round(med((r) => r.anonMiB)), round(med((r) => r.fileMiB)), round(med((r) => r.settledMiB)), `${round(med((r) => r.settledAnonMiB))} / ${round(med((r) => r.settledFileMiB))}`],
      [`kuma-dp, ${altName}`, round(medNoHold((r) => r.firstLogMs)), round(medNoHold((r) => r.readyMs)), round(medNoHold((r) => r.dnsMs)), round(medNoHold((r) => r.lastVipListenerMs)), round(medNoHold((r) => r.rssMiB)), round(medNoHold((r) => r.anonMiB)), round(medNoHold((r) => r.fileMiB)), round(medNoHold((r) => r.settledMiB)), `${round(medNoHold((r) => r.settledAnonMiB))} / ${round(medNoHold((r) => r.settledFileMiB))}`],
      [node.name, round(median(node.startMs)), '–', '–', '–', round(median(node.rssMiB)), round(median(node.anonMiB)), round(median(node.fileMiB)), '–', '–'],
      [ha.name, '–', '–', '–', round(median(ha.startMs)), round(median(ha.rssMiB)), round(median(ha.anonMiB)), round(median(ha.fileMiB)), '–', '–'],
      [dm.name, '–', '–', round(median(dm.startMs)), '–', round(median(dm.rssMiB)), round(median(dm.anonMiB)), round(median(dm.fileMiB)), '–', '–'],
      ['haproxy + dnsmasq', '–', '–', '–', '–', round(median(ha.rssMiB) + median(dm.rssMiB)), round(median(ha.anonMiB) + median(dm.anonMiB)), round(median(ha.fileMiB) + median(dm.fileMiB)), '–', '–'],
    ],
  };
  printTable(table);
  const rss = med((r) => r.rssMiB);
  const settledRss = med((r) => r.settledMiB);
  const first = med((r) => r.firstLogMs);
  const verdicts = [
    `kuma-dp RSS idle with ${S} VIP outbounds, settled (${args['settle-seconds']} s after ready): ${round(settledRss)} MiB, runs ${runsShipped.map((r) => round(r.settledMiB)).join(' / ')} (target ≤ 60 MB = 57.2 MiB): ${settledRss * 1.048576 <= 60 ? 'met' : 'NOT met'}; ${args['idle-seconds']} s after ready: ${round(rss)} MiB`,
    `time to first log line: ${round(first)} ms (aim < 300 ms): ${first < 300 ? 'met' : 'NOT met'}; bare node: ${round(median(node.startMs))} ms`,
    `time to ready (engine configured by the CP): ${round(med((r) => r.readyMs))} ms`,
    `kuma-dp over the bare Node runtime: +${round(rss - median(node.rssMiB))} MiB RSS (+${round(med((r) => r.anonMiB) - median(node.anonMiB))} anon, +${round(med((r) => r.fileMiB) - median(node.fileMiB))} file pages of the node binary and libraries)`,
  ];
  if (baselineAgent) {
    const b = medNoHold((r) => r.settledMiB);
    verdicts.push(
      `A/B, runs alternating: settled ${round(settledRss)} MiB (this build) vs ${round(b)} MiB (baseline build, runs ${runsNoHold.map((r) => round(r.settledMiB)).join(' / ')}): ${round(settledRss - b)} MiB; ready ${round(med((r) => r.readyMs))} vs ${round(medNoHold((r) => r.readyMs))} ms`,
    );
  }
  for (const v of verdicts) console.log(v);
  const files = writeResults({
    bench: 'dp-startup',
    params: { services: S, runs: args.runs, semiSpaceMiB: args['semi-space'] || 'default', idleSeconds: args['idle-seconds'], settleSeconds: args['settle-seconds'], agentCore: AGENT_CORE, cpCore: CP_CORE },
    data: baselineAgent ? { runs: runsShipped, runsBaseline: runsNoHold, peers } : { runs: runsShipped, runsV8DefaultGrowth: runsNoHold, peers },
    tables: [table],
    verdicts,
    notes: [
      `kuma-cp run standalone (memory store, KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE=none, VIPs in 127.64.0.0/10) pinned to core ${CP_CORE}; the measured processes pinned to core ${AGENT_CORE} (via taskset, whose exec is inside the times).`,
      `kuma-dp: ${S} services registered in the mesh, each with one instance, so the sidecar (DNS enabled) gets ${S} VIP outbound listeners and ${S} DNS names; the bootstrap goes over TLS to the DP server, ADS over TLS.`,
      'Times are from spawn to: the first line on stdout/stderr; GET /ready = 200; an A query for svc-0.mesh answered with the CP VIP; TCP connect to the last VIP listener accepted (polled every 10 ms from this process, pinned to the CP core; DNS polled with in-process UDP queries).',
      `RSS is VmRSS after ${args['idle-seconds']} s idle, split into RssAnon (private: V8 heap, malloc) and RssFile (mapped files, mostly the node binary's code and read-only data, shared by every Node process on the host). haproxy: ${S} "listen" sections on loopback addresses, nbthread 1; dnsmasq: the same ${S} names from an addn-hosts file.`,
    ],
    context: { before, after: runContext() },
  });
  console.log(`results: ${path.relative(process.cwd(), files.json)}, ${path.relative(process.cwd(), files.md)}`);
}

main().catch(async (err) => {
  console.error(`dp-startup: ${(err as Error).stack ?? err}`);
  await stopAllChildren();
  process.exit(1);
});
