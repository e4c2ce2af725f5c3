/**
 * The proof by an independent xDS client: @grpc/grpc-js-xds (in a child process)
 * resolves `xds:///greeter` through our plaintext ADS port and calls real gRPC greeter
 * servers registered as Dataplanes (`kuma.io/protocol: grpc`).
 *  - an RPC succeeds (LDS api_listener -> RDS -> CDS -> EDS accepted);
 *  - a TrafficRoute 80/20 between v1 and v2 holds within 4.5 standard deviations over 500 RPCs;
 *  - an invalid resource (injected through the reconciler's test hook) is NACKed by
 *    the client, the CP logs the NACK, and the last good config keeps serving;
 *  - a route change (all to v2) reaches the client.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import t from 'tap';
import { GrpcH2Server } from '../../../cp/xds/server/grpc-h2';
import { silentLogger } from '../../../lib/logger';
import { MemoryStore } from '../../../cp/store/memory-store';
import { XdsServer } from '../../../cp/xds/server/xds-server';
import { TypeUrl } from '../../../proto/index';
import type { ResourceSet } from '../../../cp/xds/generators/types';
import { GreeterService } from './fixtures/greeter-service';

async function greeter(version: string): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(GreeterService, { SayHello: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { from: version }) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { server, port };
}

t.test('grpc-js-xds client against the CP', async (t) => {
  const lines: Record<string, any>[] = [];
  const log = pino({ level: 'info' }, new Writable({ write(c, _e, cb) { for (const l of String(c).split('\n')) if (l.trim()) lines.push(JSON.parse(l)); cb(); } }));
  const v1 = await greeter('v1');
  const v2 = await greeter('v2');
  t.teardown(() => {
    v1.server.forceShutdown();
    v2.server.forceShutdown();
  });
  const store = new MemoryStore();
  await store.create({ type: 'Mesh', name: 'default', spec: {} });
  for (const [name, g, version] of [['greeter-v1', v1, 'v1'], ['greeter-v2', v2, 'v2']] as const) {
    await store.create({ type: 'Dataplane', mesh: 'default', name, spec: { networking: { address: '127.0.0.1', inbound: [{ port: g.port, tags: { 'kuma.io/service': 'greeter', 'kuma.io/protocol': 'grpc', version } }] } } });
  }
  const route = (w1: number, w2: number) => ({
    type: 'TrafficRoute' as const,
    mesh: 'default',
    name: 'greeter-split',
    spec: {
      sources: [{ match: { 'kuma.io/service': '*' } }],
      destinations: [{ match: { 'kuma.io/service': 'greeter' } }],
      conf: { split: [{ weight: w1, destination: { 'kuma.io/service': 'greeter', version: 'v1' } }, { weight: w2, destination: { 'kuma.io/service': 'greeter', version: 'v2' } }] },
    },
  });
  await store.create(route(80, 20));
  let inject = false;
  const transform = (nodeId: string, set: ResourceSet): ResourceSet => {
    if (!inject || nodeId !== 'default.client') return set;
    // gRPC implements no MAGLEV: the client must NACK this CDS update.
    for (const c of set.get(TypeUrl.Cluster)!.values()) c.lb_policy = 'MAGLEV';
    return set;
  };
  const xds = new XdsServer({ store, log, cp: { zone: '', vipPort: 80 }, authn: 'none', debounceMs: 20, transform, nackBackoff: { initialMs: 100, maxMs: 200 } });
  await xds.start();
  const server = new GrpcH2Server({ methods: xds.ads.methods(), log: silentLogger() });
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(async () => {
    await xds.close();
    server.destroy();
  });

  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'default.client', cluster: 'client', locality: {} },
  };
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [path.join(__dirname, 'fixtures/grpc-xds-client.js')], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap), GRPC_XDS_BOOTSTRAP: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const out = readline.createInterface({ input: child.stdout });
  const replies: any[] = [];
  const waiters: (() => void)[] = [];
  out.on('line', (l) => {
    replies.push(JSON.parse(l));
    waiters.shift()?.();
  });
  const rpc = async (n: number) => {
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from the grpc-xds client; stderr: ${stderr.slice(-2000)}`)), 40_000);
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    child.stdin.write(`rpc ${n}\n`);
    await done;
    return replies[replies.length - 1] as { counts: Record<string, number>; errors: number; firstError?: string };
  };

  const first = await rpc(1);
  t.equal(first.errors, 0, `first RPC through xds:///greeter succeeds ${first.firstError ?? ''}`);
  t.notOk(lines.some((l) => l.msg === 'NACK'), 'the client accepted every resource (no NACK)');

  const split = await rpc(500);
  t.equal(split.errors, 0, 'all 500 RPCs succeed');
  const n1 = split.counts.v1 ?? 0;
  // Binomial(500, 0.8): sd = sqrt(500*0.8*0.2) = 8.94; 4.5 sd ~ +-40.
  t.ok(n1 >= 360 && n1 <= 440, `v1 share ${n1}/500 within 80% +- 4.5 sd`);
  t.equal(n1 + (split.counts.v2 ?? 0), 500);

  inject = true;
  await xds.reconciler.flush();
  const deadline = Date.now() + 10_000;
  while (!lines.some((l) => l.msg === 'NACK') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const nack = lines.find((l) => l.msg === 'NACK');
  t.ok(nack, 'the CP logged the client\'s NACK');
  t.equal(nack?.node, 'default.client');
  t.equal(nack?.type, TypeUrl.Cluster);
  t.match(nack?.error_detail?.message, /MAGLEV/, 'the NACK carries the client\'s reason');
  const during = await rpc(50);
  t.equal(during.errors, 0, `the last good config keeps serving after the NACK ${during.firstError ?? ''}`);
  t.ok((during.counts.v1 ?? 0) > 0 && (during.counts.v2 ?? 0) > 0, 'still split between both versions');

  inject = false;
  await store.update(route(0, 100));
  await xds.reconciler.flush();
  let after = await rpc(20);
  for (let i = 0; i < 20 && (after.counts.v1 ?? 0) > 0; i++) after = await rpc(20);
  t.same(after.counts, { v2: 20 }, 'a route change reaches the client: all traffic to v2');
  t.equal(after.errors, 0);
  child.stdin.write('quit\n');
});
