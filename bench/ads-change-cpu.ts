/**
 * The CP's CPU for a mesh-wide change, in one process and without sockets: the real
 * reconciler, snapshot cache and ADS server (its StreamAggregatedResources handler and
 * request decoder) serve N simulated SotW clients through in-memory calls. Each client
 * behaves like bench/harness/ads-clients (CDS + LDS wildcard, EDS subscription to the EDS
 * clusters it gets, every response ACKed). Messages cross in batches on later turns of
 * the event loop, as they would over the network; the time spent in the clients is
 * measured and taken out, so what is left is the CP's share (HTTP/2 excluded).
 *
 * A quick loop for work on generation and pushing (seconds, not the minutes of
 * bench/ads-load, whose numbers are the ones that count).
 *
 * Usage: node dist/bench/ads-change-cpu.js [--dataplanes=5000] [--services=500]
 *        [--outbounds=3] [--changes=4] [--fresh=1]
 */
import { EventEmitter } from 'node:events';
import inspector from 'node:inspector';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { silentLogger } from '../lib/logger';
import { MemoryStore } from '../cp/store/memory-store';
import { XdsServer } from '../cp/xds/server/xds-server';
import { defaultPolicies } from '../cp/xds/server/default-policies';
import { lookupType, TypeUrl } from '../proto/index';
import type { ServerStreamCall } from '../cp/xds/server/grpc-h2';
import { parseArgs } from './harness/args';
import { dataplane } from './harness/ads-world';
import { median, round } from './harness/stats';
import { monotonicMicros } from './harness/cpu-profile';
import { printTable, writeResults, type Table } from './harness/results';
import { runContext } from './harness/run-context';

const CLA = TypeUrl.ClusterLoadAssignment;

/** Messages waiting to cross, delivered in one batch per direction on a later turn. */
class Wire {
  private toClients: (() => void)[] = [];
  private toCp: (() => void)[] = [];
  private scheduled = false;
  clientMs = 0;
  messages = 0;

  sendToClient(f: () => void): void {
    this.toClients.push(f);
    this.schedule();
  }

  sendToCp(f: () => void): void {
    this.toCp.push(f);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const c = this.toClients;
      this.toClients = [];
      const t = performance.now();
      for (const f of c) f();
      this.clientMs += performance.now() - t;
      const s = this.toCp;
      this.toCp = [];
      this.messages += s.length;
      for (const f of s) f();
    });
  }
}

class FakeCall extends EventEmitter implements ServerStreamCall {
  readonly metadata = new grpc.Metadata();
  onFrame: (frame: Buffer) => void = () => undefined;
  getPeer(): string {
    return '127.0.0.1:1';
  }
  writeFrame(frame: Buffer): boolean {
    this.onFrame(frame);
    return true;
  }
  end(): void {
    this.emit('close');
  }
}

const Request = lookupType('envoy.service.discovery.v3.DiscoveryRequest');
const Response = lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const Cluster = lookupType(TypeUrl.Cluster);

class Client {
  private acked = new Map<string, { version: string; nonce: string }>();
  private edsKey = '';
  private edsNames: string[] = [];
  lastAckAt = 0;

  constructor(
    private readonly wire: Wire,
    private readonly call: FakeCall,
    private readonly deserialize: (b: Buffer) => unknown,
    id: string,
  ) {
    call.onFrame = (frame) => wire.sendToClient(() => this.onResponse(frame));
    this.write({ node: { id, cluster: id, user_agent_name: 'envoy' }, type_url: TypeUrl.Cluster, resource_names: [] });
    this.write({ type_url: TypeUrl.Listener, resource_names: [] });
  }

  private write(req: Record<string, unknown>): void {
    const bytes = Buffer.from(Request.encode(Request.fromObject(req)).finish());
    this.wire.sendToCp(() => this.call.emit('data', this.deserialize(bytes)));
  }

  private onResponse(frame: Buffer): void {
    const res = Response.decode(frame.subarray(5)) as any;
    const type: string = res.type_url;
    this.acked.set(type, { version: res.version_info, nonce: res.nonce });
    this.lastAckAt = performance.now();
    this.write({ type_url: type, resource_names: type === CLA ? this.edsNames : [], version_info: res.version_info, response_nonce: res.nonce });
    if (type !== TypeUrl.Cluster) return;
    const names: string[] = [];
    for (const a of res.resources) {
      const c = Cluster.decode(a.value) as any;
      if (c.type === 3) names.push(c.eds_cluster_config?.service_name || c.name);
    }
    names.sort();
    const key = names.join('\u0000');
    if (key === this.edsKey) return;
    this.edsKey = key;
    this.edsNames = names;
    const prev = this.acked.get(CLA);
    this.write({ type_url: CLA, resource_names: names, version_info: prev?.version ?? '', response_nonce: prev?.nonce ?? '' });
  }
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once no message crossed for `quietMs`. */
async function settle(wire: Wire, quietMs = 300, maxMs = 120_000): Promise<void> {
  const until = performance.now() + maxMs;
  let last = -1;
  while (performance.now() < until) {
    await sleep(quietMs);
    if (wire.messages === last) return;
    last = wire.messages;
  }
  throw new Error('no quiet within the time limit');
}

async function main(): Promise<void> {
  const p = parseArgs(process.argv.slice(2), { dataplanes: 5000, services: 500, outbounds: 3, changes: 4, fresh: 1, 'heap-sample': 0 });
  const before = runContext();
  let gcMs = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  }).observe({ entryTypes: ['gc'] });
  const store = new MemoryStore();
  await store.create({ type: 'Mesh', name: 'default', spec: {} });
  for (const r of defaultPolicies('default')) await store.create(r);
  for (let i = 0; i < p.dataplanes; i++) await store.create(dataplane(i, p.services, p.outbounds));
  const xds = new XdsServer({ store, log: silentLogger(), cp: { zone: '', vipPort: 80 }, authn: 'none', debounceMs: 100 });
  await xds.start();
  const sotw = Object.entries(xds.ads.methods()).find(([path]) => path.endsWith('/StreamAggregatedResources'))![1];
  const wire = new Wire();
  for (let i = 0; i < p.dataplanes; i++) {
    const call = new FakeCall();
    sotw.handler(call);
    new Client(wire, call, (b) => sotw.deserialize(b), `default.dp-${i}`);
    if (i % 250 === 249) await sleep(5);
  }
  await settle(wire, 1000);
  const windows: { fromUs: number; toUs: number }[] = [];
  const rows: { cpuMs: number; clientMs: number; cpMs: number; gcMs: number; heapMiB: number }[] = [];
  const base = defaultPolicies('default').find((r) => r.type === 'TrafficRoute')!;
  const session = p['heap-sample'] ? new inspector.Session() : undefined;
  const post = (method: string, params?: object) => new Promise<any>((resolve, reject) => session!.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  for (let k = 0; k < p.changes; k++) {
    (globalThis as any).gc?.();
    if (session && k === 1) {
      session.connect();
      // Every allocation of the changes after the first, including what GC collected since.
      await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    }
    const subset = p.fresh ? { shard: `s${k}` } : { version: 'v2' };
    const spec = k % 2 === 1 && !p.fresh ? base.spec : { ...base.spec, conf: { split: [{ weight: 90, destination: { 'kuma.io/service': '*' } }, { weight: 10, destination: { 'kuma.io/service': '*', ...subset } }] } };
    const cpu0 = process.cpuUsage();
    const client0 = wire.clientMs;
    const gc0 = gcMs;
    const fromUs = monotonicMicros();
    await store.update({ ...base, spec });
    await settle(wire);
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const clientMs = wire.clientMs - client0;
    rows.push({ cpuMs, clientMs, cpMs: cpuMs - clientMs, gcMs: gcMs - gc0, heapMiB: process.memoryUsage().heapUsed / 2 ** 20 });
    windows.push({ fromUs, toUs: monotonicMicros() });
    console.log(`change ${k + 1}: CPU ${round(cpuMs)} ms, clients ${round(clientMs)} ms, CP ${round(cpuMs - clientMs)} ms (${round((cpuMs - clientMs) / p.dataplanes)} ms/dp), GC ${round(gcMs - gc0)} ms`);
  }
  if (session) {
    const { profile } = await post('HeapProfiler.stopSampling');
    const self = new Map<string, number>();
    let total = 0;
    const walk = (n: any) => {
      const key = `${n.callFrame.functionName || '(anonymous)'} (${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber + 1})`;
      self.set(key, (self.get(key) ?? 0) + n.selfSize);
      total += n.selfSize;
      for (const c of n.children) walk(c);
    };
    walk(profile.head);
    console.log(`allocated per change (sampled): ${round(total / (p.changes - 1) / 2 ** 20)} MiB; top sites:`);
    for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${round((100 * v) / total)}% ${k}`);
  }
  const cp = median(rows.map((r) => r.cpMs));
  console.log(`median CP ms per dp per change: ${round(cp / p.dataplanes)}; median GC ms per change: ${round(median(rows.map((r) => r.gcMs)))}`);
  const table: Table = {
    title: `Mesh-wide change, in-process: ${p.dataplanes} dataplanes, ${p.services} services, ${p.outbounds} outbounds each`,
    columns: ['change', 'process CPU (ms)', 'clients (ms)', 'CP (ms)', 'CP per dataplane (ms)', 'GC (ms)'],
    rows: rows.map((r, k) => [k + 1, round(r.cpuMs), round(r.clientMs), round(r.cpMs), round(r.cpMs / p.dataplanes), round(r.gcMs)]),
  };
  printTable(table);
  writeResults({
    bench: 'ads-change-cpu',
    params: { dataplanes: p.dataplanes, services: p.services, outbounds: p.outbounds, changes: p.changes, fresh: !!p.fresh },
    data: { rows, medianCpMsPerDp: cp / p.dataplanes },
    tables: [table],
    verdicts: [],
    notes: [
      'One process: the real reconciler, snapshot cache and ADS handler against simulated SotW clients through in-memory calls delivered in batches on later event-loop turns; no HTTP/2. CP = process CPU minus the time measured inside the clients (their GC is not separated). A loop for development; bench/ads-load gives the numbers that count.',
    ],
    context: { before, after: runContext() },
  });
  // For node --cpu-prof: the changes' windows (bench/harness/cpu-profile topSelfTime).
  console.log(`windows: ${JSON.stringify(windows)}`);
  xds.destroy();
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
