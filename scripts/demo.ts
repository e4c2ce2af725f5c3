/**
 * `npm start`: the multi-zone demo on loopback, with no Envoy, no database server and
 * no root. It starts a global CP, zone-1 and zone-2 CPs, an ingress per zone and the
 * services `users` + `invoices` (zone-1) and `billing` (zone-2) behind kuma-dp sidecars
 * on the embedded engine, then runs four steps (scripts/demo/steps.ts), each checked
 * against its expectation. Exit code: 0 when all passed, else the number of the first
 * failing step (a set-up failure counts as step 1 failing). `--keep` leaves the mesh
 * running and prints kumactl commands; Ctrl-C stops it. Nothing is left running or on
 * disk when it ends.
 *
 * Run as root, it first probes for network namespaces (a throwaway namespace with a veth
 * pair); when that works the same mesh runs in namespaces (scripts/harness/netns-topology.ts:
 * a backbone with global and the ingresses, one namespace per zone, no route between the
 * zones but through the ingresses). `--loopback` keeps the loopback mode anyway. The first
 * lines say which mode runs and why.
 */
import path from 'node:path';
import { BIN, MeshSetupError } from './harness/mesh';
import { probeNetns } from './harness/netns-topology';
import { withTimeout } from './harness/wait';
import { demoHarness, startDemoMesh, type DemoMesh, type SetupStage } from './demo/demo-mesh';
import { STEPS } from './demo/steps';

const USAGE = `usage: npm start [-- --keep] [-- --verbose] [-- --loopback]
  --keep      leave the mesh running after the steps and print kumactl commands (Ctrl-C stops it)
  --verbose   print every log line of every process
  --loopback  stay on 127.0.0.1 even as root (default as root: one network namespace per zone)`;

/** Bound of one step (set-up has its own bounds inside the harness). */
const STEP_TIMEOUT_MS = 120_000;
const SETUP_TIMEOUT_MS = 180_000;

const started = Date.now();
function say(line: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[${t}s] ${line}\n`);
}

async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => !['--keep', '--verbose', '--loopback', '--help', '-h'].includes(a));
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (unknown.length) {
    process.stderr.write(`unknown argument ${JSON.stringify(unknown[0])}\n${USAGE}\n`);
    return 64;
  }
  const keep = argv.includes('--keep');
  const verbose = argv.includes('--verbose');

  let network: 'loopback' | 'netns' = 'loopback';
  let why: string;
  if (argv.includes('--loopback')) why = '--loopback given';
  else {
    const probe = probeNetns();
    if (probe.ok) {
      network = 'netns';
      why = 'running as root and a throwaway network namespace with a veth pair could be made';
    } else why = probe.reason;
  }
  if (network === 'netns') {
    say('multi-zone demo: global + zone-1 + zone-2 in network namespaces, embedded engine, VIPs in 127.64.0.0/10 inside each namespace');
    say(`mode: network namespaces (${why}); npm start -- --loopback runs everything on 127.0.0.1 instead`);
  } else {
    say('multi-zone demo: global + zone-1 + zone-2 on 127.0.0.1, embedded engine, VIPs in 127.64.0.0/10');
    say(`mode: loopback (${why})`);
  }
  let stage: SetupStage = 'control planes';
  let d: DemoMesh | undefined;
  const results: { n: number; title: string; ok: boolean; summary: string; seconds: number }[] = [];
  const onLine = verbose ? (proc: string, l: Record<string, unknown>) => process.stdout.write(`    ${proc}| ${JSON.stringify(l)}\n`) : undefined;
  const mesh = demoHarness({ say: (l) => say(`  ${l}`), onLine, network });
  let keeping: (() => void) | undefined;
  let interrupted = false;
  mesh.installExitHooks(() => {
    interrupted = true;
    if (!keeping) return false;
    keeping();
    return true;
  });
  const setup = startDemoMesh(mesh, (s) => {
    stage = s;
    say(`set-up: ${s}`);
  });
  try {
    d = await withTimeout(setup, SETUP_TIMEOUT_MS, `set-up (${stage})`);
  } catch (err) {
    const detail = err instanceof MeshSetupError && err.detail ? `\n    last log lines:\n    ${err.detail}` : '';
    say(`FAILED set-up at "${stage}": ${(err as Error).message}${detail}`);
    results.push({ n: 1, title: STEPS[0].title, ok: false, summary: `not run: set-up failed at "${stage}": ${(err as Error).message}`, seconds: 0 });
    for (let i = 1; i < STEPS.length; i++) results.push({ n: i + 1, title: STEPS[i].title, ok: false, summary: 'not run (set-up failed)', seconds: 0 });
    await mesh.stopAll();
    if (interrupted) return 130;
    return report(results);
  }

  for (let i = 0; i < STEPS.length; i++) {
    const step = STEPS[i];
    const t0 = Date.now();
    say(`step ${i + 1}: ${step.title}`);
    let ok = false;
    let summary: string;
    try {
      ({ ok, summary } = await withTimeout(step.run(d, (l) => say(`  ${l}`)), STEP_TIMEOUT_MS, `step ${i + 1}`));
    } catch (err) {
      const detail = err instanceof MeshSetupError && err.detail ? ` (last log lines: ${err.detail})` : '';
      summary = `could not run: ${(err as Error).message}${detail}`;
    }
    const seconds = (Date.now() - t0) / 1000;
    say(`step ${i + 1} ${ok ? 'PASSED' : 'FAILED'}: ${summary} (${seconds.toFixed(1)} s)`);
    results.push({ n: i + 1, title: step.title, ok, summary, seconds });
  }

  if (keep) {
    printExplore(d);
    await new Promise<void>((resolve) => {
      keeping = resolve;
    });
  }
  say('stopping every process of the mesh');
  await d.mesh.stopAll();
  const left = d.mesh.runningPids();
  if (left.length) say(`WARNING: processes still running: ${left.join(', ')}`);
  return report(results);
}

function printExplore(d: DemoMesh): void {
  if (d.mesh.netns) return printExploreNetns(d);
  const kumactl = `node ${path.relative(process.cwd(), BIN.kumactl)}`;
  const g = d.mesh.global!;
  say('the mesh keeps running (--keep). Explore it:');
  for (const line of [
    `${kumactl} --cp-address ${g.api} get zones`,
    `${kumactl} --cp-address ${g.api} inspect zones`,
    `${kumactl} --cp-address ${g.api} get dataplanes -m default`,
    `${kumactl} --cp-address ${g.api} get zone-ingresses`,
    `${kumactl} --cp-address ${g.api} get traffic-routes -m default -o yaml`,
    `${kumactl} --cp-address ${d.mesh.zoneCp('zone-1').api} inspect dataplanes`,
    `dig @127.0.0.1 -p ${d.sidecars.get('users-1')?.dnsPort} billing.mesh +short`,
    `curl -s http://$(dig @127.0.0.1 -p ${d.sidecars.get('users-1')?.dnsPort} billing.mesh +short):${d.mesh.vipPort}/`,
    `curl -s http://127.0.0.1:${d.ingress.get('zone-2')?.adminPort}/stats   # zone-2 ingress counters`,
  ]) {
    process.stdout.write(`    ${line}\n`);
  }
  say(`work dir ${d.mesh.workDir}; press Ctrl-C to stop everything`);
}

/** The --keep commands of netns mode: each runs in the namespace of what it talks to. */
function printExploreNetns(d: DemoMesh): void {
  const topo = d.mesh.netns!;
  const kumactl = `node ${path.relative(process.cwd(), BIN.kumactl)}`;
  const g = d.mesh.global!;
  const z1 = d.mesh.zoneCp('zone-1');
  const bb = `ip netns exec ${topo.backbone}`;
  const inZ1 = `ip netns exec ${topo.link('zone-1').netns}`;
  const inUsers = `ip netns exec ${d.sidecars.get('users-1')?.inNetns?.netns}`;
  const dns = d.sidecars.get('users-1')?.dnsPort;
  const billing = d.sidecars.get('billing-1');
  const ingress2 = d.ingress.get('zone-2');
  say('the mesh keeps running (--keep). Explore it (each command runs in the namespace of what it talks to):');
  for (const line of [
    `${bb} ${kumactl} --cp-address http://127.0.0.1:${g.apiPort} get zones`,
    `${bb} ${kumactl} --cp-address http://127.0.0.1:${g.apiPort} inspect zones`,
    `${bb} ${kumactl} --cp-address http://127.0.0.1:${g.apiPort} get dataplanes -m default`,
    `${bb} ${kumactl} --cp-address http://127.0.0.1:${g.apiPort} get zone-ingresses`,
    `${bb} ${kumactl} --cp-address http://127.0.0.1:${g.apiPort} get traffic-routes -m default -o yaml`,
    `${inZ1} ${kumactl} --cp-address http://127.0.0.1:${z1.apiPort} inspect dataplanes`,
    `${inUsers} dig @127.0.0.1 -p ${dns} billing.mesh +short`,
    `${inUsers} sh -c 'curl -s http://$(dig @127.0.0.1 -p ${dns} billing.mesh +short):${d.mesh.vipPort}/'`,
    `${bb} curl -s http://127.0.0.1:${ingress2?.inNetns?.adminPort}/stats   # zone-2 ingress counters`,
    `${inUsers} curl -sS --max-time 2 http://${billing?.address}:${billing?.port}/   # fails: zone-1 has no route to zone-2's workloads`,
    `ip netns list; ${inZ1} ip route   # the namespaces, and zone-1's routes`,
    `${inUsers} ss -ltn   # users' own namespace: its sidecar's listeners (inbound, VIPs on 127.64.0.0/10)`,
    `ip netns exec ${d.sidecars.get('invoices-1')?.inNetns?.netns} ss -ltn   # invoices' namespace: the same VIPs, bound by its own sidecar`,
    `${kumactl} --cp-address ${g.api} get zones   # also from here, through the demo's forward to global's API`,
  ]) {
    process.stdout.write(`    ${line}\n`);
  }
  say(`work dir ${d.mesh.workDir}; press Ctrl-C to stop everything (and delete the namespaces)`);
}

function report(results: { n: number; title: string; ok: boolean; summary: string; seconds: number }[]): number {
  process.stdout.write('\nsummary:\n');
  for (const r of results) process.stdout.write(`  ${r.ok ? 'PASS' : 'FAIL'}  step ${r.n}: ${r.title}\n        ${r.summary}\n`);
  const failed = results.find((r) => !r.ok);
  process.stdout.write(failed ? `\ndemo FAILED at step ${failed.n} (exit ${failed.n})\n` : `\ndemo passed: ${results.length}/${results.length} steps in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return failed ? failed.n : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
