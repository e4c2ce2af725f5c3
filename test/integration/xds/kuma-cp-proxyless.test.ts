/**
 * The real kuma-cp binary serving a real @grpc/grpc-js-xds client: standalone CP with
 * KUMA_DP_SERVER_PLAINTEXT_PORT, greeter Dataplanes registered over the REST API, the
 * default mesh's `route-all-default` created by the CP itself. Proves the DP server is
 * wired into `kuma-cp run` and that a TrafficRoute applied over REST reaches the client.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { ManagedProcess } from '../../../scripts/harness/managed-process';
import { GreeterService } from './fixtures/greeter-service';

const CP = path.resolve(__dirname, '../../../cp/main.js');

async function greeter(version: string) {
  const server = new grpc.Server();
  server.addService(GreeterService, { SayHello: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { from: version }) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { server, port };
}

async function api(port: number, method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

t.test('kuma-cp run serves proxyless gRPC on its plaintext DP port', async (t) => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-cp-xds-'));
  const cp = new ManagedProcess({
    name: 'kuma-cp',
    command: process.execPath,
    args: [CP, 'run'],
    env: {
      PATH: process.env.PATH,
      KUMA_STORE_TYPE: 'memory',
      KUMA_GENERAL_WORK_DIR: workDir,
      KUMA_API_SERVER_HTTP_PORT: '0',
      KUMA_API_SERVER_HTTP_INTERFACE: '127.0.0.1',
      KUMA_DP_SERVER_PORT: '0',
      KUMA_DP_SERVER_PLAINTEXT_PORT: '0',
      KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'none',
      KUMA_DNS_SERVER_PORT: '0',
      KUMA_DIAGNOSTICS_SERVER_PORT: '0',
    },
  });
  const v1 = await greeter('v1');
  const v2 = await greeter('v2');
  t.teardown(async () => {
    await cp.stop();
    v1.server.forceShutdown();
    v2.server.forceShutdown();
    fs.rmSync(workDir, { recursive: true, force: true });
  });
  await cp.start();
  const dpLine = await cp.waitFor((l) => l.msg === 'DP server listening', 20_000, 'DP server listening');
  const apiPort = await cp.waitForPort('API server listening', 20_000);
  const plaintext = dpLine.plaintextPort as number;
  t.ok(plaintext > 0, 'plaintext ADS port announced');
  t.ok(fs.existsSync(path.join(workDir, 'dp-server-tls', 'ca.crt')), 'DP server CA generated in the work dir');

  // The CP made mesh default and its default policies.
  let routes = await api(apiPort, 'GET', '/meshes/default/traffic-routes');
  for (let i = 0; i < 50 && !routes.json?.items?.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    routes = await api(apiPort, 'GET', '/meshes/default/traffic-routes');
  }
  t.same(routes.json.items.map((r: any) => r.name), ['route-all-default']);

  for (const [name, g, version] of [['greeter-v1', v1, 'v1'], ['greeter-v2', v2, 'v2']] as const) {
    const r = await api(apiPort, 'PUT', `/meshes/default/dataplanes/${name}`, { type: 'Dataplane', mesh: 'default', name, networking: { address: '127.0.0.1', inbound: [{ port: g.port, tags: { 'kuma.io/service': 'greeter', 'kuma.io/protocol': 'grpc', version } }] } });
    t.ok(r.status === 200 || r.status === 201, `register ${name}: ${r.status}`);
  }

  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${plaintext}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'default.client', cluster: 'client', locality: {} },
  };
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures/grpc-xds-client.js')], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap), GRPC_XDS_BOOTSTRAP: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const replies: any[] = [];
  const waiters: (() => void)[] = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => {
    replies.push(JSON.parse(l));
    waiters.shift()?.();
  });
  const rpc = async (n: number) => {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`grpc-xds client silent; stderr: ${stderr.slice(-1500)}`)), 40_000);
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin.write(`rpc ${n}\n`);
    });
    return replies[replies.length - 1] as { counts: Record<string, number>; errors: number; firstError?: string };
  };

  const first = await rpc(40);
  t.equal(first.errors, 0, `RPCs through xds:///greeter succeed ${first.firstError ?? ''}`);
  t.ok((first.counts.v1 ?? 0) > 0 && (first.counts.v2 ?? 0) > 0, `route-all-default spreads over both versions: ${JSON.stringify(first.counts)}`);

  const r = await api(apiPort, 'PUT', '/meshes/default/traffic-routes/greeter-v2-only', {
    type: 'TrafficRoute',
    mesh: 'default',
    name: 'greeter-v2-only',
    sources: [{ match: { 'kuma.io/service': '*' } }],
    destinations: [{ match: { 'kuma.io/service': 'greeter' } }],
    conf: { destination: { 'kuma.io/service': 'greeter', version: 'v2' } },
  });
  t.ok(r.status === 200 || r.status === 201, `TrafficRoute applied over REST: ${r.status}`);
  let after = await rpc(20);
  for (let i = 0; i < 30 && (after.counts.v1 ?? 0) > 0; i++) after = await rpc(20);
  t.same(after.counts, { v2: 20 }, `the route reaches the client: all to v2 (errors: ${after.errors} ${after.firstError ?? ''})`);
  const insights = await api(apiPort, 'GET', '/meshes/default/dataplanes+insights');
  t.equal(insights.status, 200);
  child.stdin.write('quit\n');
});
