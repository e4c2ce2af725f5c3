/**
 * kuma-cp and kumactl as a user runs them: the compiled binaries, a temporary work dir
 * and HOME, ports picked by the OS (read from the "API server listening" log line).
 * Applies the examples, reads them back as YAML/JSON, deletes, inspects, proves that an
 * apply with one bad document changes nothing, and that a restarted CP (sqlite) still
 * has every resource.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import YAML from 'yaml';
import { ManagedProcess } from '../../../scripts/harness/managed-process';

const dist = path.resolve(__dirname, '../../..');
const repo = path.resolve(dist, '..');
const CP = path.join(dist, 'cp/main.js');
const KUMACTL = path.join(dist, 'kumactl/main.js');
const example = (name: string) => path.join(repo, 'examples', name);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kumactl-e2e-'));
const workDir = path.join(tmp, 'work');
const home = path.join(tmp, 'home');
fs.mkdirSync(home);
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cpEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    KUMA_MODE: 'standalone',
    KUMA_GENERAL_WORK_DIR: workDir,
    KUMA_API_SERVER_HTTP_PORT: '0',
    KUMA_API_SERVER_HTTP_INTERFACE: '127.0.0.1',
    KUMA_DP_SERVER_PORT: '0',
    KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT: '0',
    KUMA_DNS_SERVER_PORT: '0',
    KUMA_DIAGNOSTICS_SERVER_PORT: '0',
    ...extra,
  };
}

/** Starts kuma-cp and returns it with its API port; stopped by pid in teardown. */
async function startCp(tt: { teardown(fn: () => unknown): void }, extra: Record<string, string> = {}) {
  const cp = new ManagedProcess({ name: 'kuma-cp', command: process.execPath, args: [CP, 'run'], env: cpEnv(extra) });
  tt.teardown(() => cp.stop(2000));
  await cp.start();
  const port = await cp.waitForPort('API server listening', 20_000);
  return { cp, port, address: `http://127.0.0.1:${port}` };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a binary to completion (bounded by a timeout) and collects its output. */
function run(script: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env: opts.env ?? { PATH: process.env.PATH, HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

const kumactl = (address: string, ...args: string[]) => run(KUMACTL, ['--cp-address', address, ...args]);

/** Every user-visible resource, as JSON, for before/after comparisons. */
async function snapshot(address: string): Promise<string> {
  const parts: string[] = [];
  for (const type of ['meshes', 'dataplanes', 'traffic-routes', 'traffic-permissions', 'zone-ingresses']) {
    const r = await kumactl(address, 'get', type, '-o', 'json');
    if (r.code !== 0) throw new Error(`get ${type} failed: ${r.stderr}`);
    parts.push(r.stdout);
  }
  return parts.join('\n');
}

t.test('apply, get, inspect, delete, all-or-nothing apply, restart keeps data', async (t) => {
  let { cp, address } = await startCp(t);

  for (const f of ['mesh.yaml', 'dataplane.yaml', 'traffic-route.yaml', 'traffic-permission.yaml', 'zone-ingress.yaml']) {
    const r = await kumactl(address, 'apply', '-f', example(f));
    t.equal(r.code, 0, `apply ${f}: ${r.stderr}`);
  }
  const viaStdin = await run(KUMACTL, ['--cp-address', address, 'apply', '-f', '-', '--var', 'name=from-stdin'], {
    input: 'type: Mesh\nname: "{{ name }}"\n',
  });
  t.equal(viaStdin.code, 0, viaStdin.stderr);
  t.match(viaStdin.stdout, /created Mesh "from-stdin"/);

  const meshes = YAML.parse((await kumactl(address, 'get', 'meshes', '-o', 'yaml')).stdout);
  t.same(meshes.items.map((m: any) => m.name), ['default', 'from-stdin']);
  t.equal(meshes.items[0].mtls.enabledBackend, 'ca-1', 'mesh default has the builtin backend from examples/mesh.yaml');
  t.equal(meshes.total, 2);

  const dp = YAML.parse((await kumactl(address, 'get', 'dataplane', 'web-1', '-o', 'yaml')).stdout);
  t.equal(dp.type, 'Dataplane');
  t.equal(dp.networking.inbound[0].tags['kuma.io/service'], 'web');
  const routes = JSON.parse((await kumactl(address, 'get', 'traffic-routes', '-m', 'default', '-o', 'json')).stdout);
  t.same(routes.items[0].conf.split.map((s: any) => s.weight), [80, 20]);

  const table = await kumactl(address, 'get', 'dataplanes');
  t.match(table.stdout, /^MESH\s+NAME\s+TAGS\s+AGE\n/);
  t.match(table.stdout, /default\s+web-1\s+kuma\.io\/protocol=http kuma\.io\/service=web version=v1\s+\d+s/);
  const zi = await kumactl(address, 'get', 'zone-ingresses');
  t.match(zi.stdout, /zone-1-ingress\s+127\.0\.0\.1:10000/);

  // Tokens come from the CP's token routes (cp/tokens); kumactl prints the JWT alone.
  const token = await kumactl(address, 'generate', 'dataplane-token', '--mesh', 'default', '--name', 'web-1', '--valid-for', '1h');
  t.equal(token.code, 0, token.stderr);
  t.match(token.stdout, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/, 'a compact JWT on one line');
  const payload = JSON.parse(Buffer.from(token.stdout.split('.')[1], 'base64url').toString('utf8'));
  t.ok(JSON.stringify(payload).includes('web-1'), 'the token names the dataplane');
  const zoneToken = await kumactl(address, 'generate', 'zone-token', '--zone', 'zone-1', '--scope', 'cp');
  t.equal(zoneToken.code, 0, zoneToken.stderr);
  t.match(zoneToken.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  const badValidFor = await kumactl(address, 'generate', 'dataplane-token', '--name', 'x', '--valid-for', 'soon');
  t.equal(badValidFor.code, 64);
  t.match(badValidFor.stderr, /--valid-for: invalid duration "soon"/);

  const inspect = await kumactl(address, 'inspect', 'dataplanes');
  t.equal(inspect.code, 0);
  t.match(inspect.stdout, /web-1\s+.*\s+Offline\s+never/, 'no kuma-dp is connected');
  const zones = await kumactl(address, 'inspect', 'zones');
  t.equal(zones.code, 1);
  t.match(zones.stderr, /global control plane/);

  // All or nothing: document 1 of 3 is invalid, so neither the mesh nor the permission is applied.
  const before = await snapshot(address);
  const bad = path.join(tmp, 'bad.yaml');
  fs.writeFileSync(
    bad,
    [
      'type: Mesh\nname: atomic',
      'type: Dataplane\nmesh: atomic\nname: dp-bad\nnetworking:\n  address: 127.0.0.1\n  inbound:\n    - port: 70000\n      tags:\n        kuma.io/service: x',
      'type: TrafficPermission\nmesh: default\nname: late\nsources:\n  - match:\n      kuma.io/service: "*"\ndestinations:\n  - match:\n      kuma.io/service: "*"',
    ].join('\n---\n'),
  );
  const refused = await kumactl(address, 'apply', '-f', bad);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /nothing was applied/);
  t.match(refused.stderr, /document\[1\]\.networking\.inbound\[0\]\.port: /, 'the error names the document and the field');
  t.notMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  t.equal(await snapshot(address), before, 'the store is unchanged');

  const del = await kumactl(address, 'delete', 'traffic-route', 'backend-canary');
  t.equal(del.code, 0, del.stderr);
  const gone = await kumactl(address, 'get', 'traffic-route', 'backend-canary');
  t.equal(gone.code, 1);
  t.match(gone.stderr, /^Error: Not Found \(TrafficRoute default\/backend-canary not found\)/);

  // Restart on the same work dir (sqlite): everything is still there, the deleted route is not.
  const afterDelete = await snapshot(address);
  await cp.stop();
  t.equal(cp.exit?.code, 0, 'SIGTERM stops kuma-cp with exit code 0');
  t.ok(cp.log.some((l) => l.msg === 'kuma-cp stopped'));
  ({ cp, address } = await startCp(t));
  t.equal(await snapshot(address), afterDelete, 'the restarted CP serves the same resources');

  // The default mesh is created on the first start only: once deleted, a restart keeps it deleted.
  t.equal((await kumactl(address, 'delete', 'mesh', 'default')).code, 0);
  t.equal((await kumactl(address, 'get', 'dataplanes', '-o', 'json')).stdout.includes('web-1'), false, 'deleting the mesh deleted its dataplane');
  await cp.stop();
  ({ cp, address } = await startCp(t));
  const after = YAML.parse((await kumactl(address, 'get', 'meshes', '-o', 'yaml')).stdout);
  t.same(after.items.map((m: any) => m.name), ['from-stdin']);

  // kumactl's own config: add a control plane, then commands need no --cp-address.
  const add = await run(KUMACTL, ['config', 'control-planes', 'add', '--name', 'e2e', '--address', address]);
  t.equal(add.code, 0, add.stderr);
  const cfg = YAML.parse(fs.readFileSync(path.join(home, '.kumactl', 'config'), 'utf8'));
  t.equal(cfg.currentContext, 'e2e');
  t.same(cfg.controlPlanes.find((c: any) => c.name === 'e2e').coordinates.apiServer.url, address);
  const viaConfig = await run(KUMACTL, ['get', 'meshes']);
  t.equal(viaConfig.code, 0, viaConfig.stderr);
  t.match(viaConfig.stdout, /from-stdin/);
  const dup = await run(KUMACTL, ['config', 'control-planes', 'add', '--name', 'e2e', '--address', address]);
  t.equal(dup.code, 64, 'adding an existing name without --overwrite is a usage error');
  const sw = await run(KUMACTL, ['config', 'control-planes', 'switch', '--name', 'local']);
  t.equal(sw.code, 0);
  const unreachable = await run(KUMACTL, ['get', 'meshes'], { env: { PATH: process.env.PATH, HOME: home } });
  // `local` is http://localhost:5681; nothing of ours listens there in this test (or if something does, it is not us).
  t.not(unreachable.code, 0);
});

t.test('usage errors exit 64 and name what is wrong', async (t) => {
  const badPort = await run(CP, ['run'], { env: cpEnv({ KUMA_API_SERVER_HTTP_PORT: '70000' }) });
  t.equal(badPort.code, 64);
  t.match(badPort.stderr, /KUMA_API_SERVER_HTTP_PORT="70000": must be an integer port in 0\.\.65535/);
  const badMode = await run(CP, ['run'], { env: cpEnv({ KUMA_MODE: 'primary' }) });
  t.equal(badMode.code, 64);
  t.match(badMode.stderr, /KUMA_MODE="primary": must be one of standalone, global, zone, remote/);
  const cfgFile = path.join(tmp, 'cp.yaml');
  fs.writeFileSync(cfgFile, 'store:\n  type: mongo\n');
  const badFile = await run(CP, ['run', '--config-file', cfgFile], { env: cpEnv() });
  t.equal(badFile.code, 64);
  t.match(badFile.stderr, /config file key store\.type: "mongo" must be one of memory, sqlite, postgres/);
  const unknownCmd = await run(CP, ['serve']);
  t.equal(unknownCmd.code, 64);
  const version = await run(CP, ['version']);
  t.equal(version.code, 0);
  t.match(version.stdout, /^\d+\.\d+\.\d+/);

  const flag = await run(KUMACTL, ['get', 'meshes', '--frobnicate']);
  t.equal(flag.code, 64);
  t.match(flag.stderr, /unknown flag --frobnicate/);
  const type = await run(KUMACTL, ['--cp-address', 'http://127.0.0.1:9', 'get', 'widgets']);
  t.equal(type.code, 64);
  t.match(type.stderr, /unknown resource type "widgets"; valid: meshes, dataplanes/);
  const refused = await run(KUMACTL, ['--cp-address', 'http://127.0.0.1:9', 'get', 'meshes']);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /could not reach the control plane at http:\/\/127\.0\.0\.1:9/);
});

t.test('the config file sets ports and the store; env wins over it', async (t) => {
  const cfgFile = path.join(tmp, 'memory.yaml');
  fs.writeFileSync(cfgFile, 'store:\n  type: memory\napiServer:\n  http:\n    port: 1\n    interface: 127.0.0.1\ndefaults:\n  skipMeshCreation: true\n');
  const cp = new ManagedProcess({ name: 'kuma-cp', command: process.execPath, args: [CP, 'run', '--config-file', cfgFile], env: cpEnv({ KUMA_GENERAL_WORK_DIR: path.join(tmp, 'w2') }) });
  t.teardown(() => cp.stop(2000));
  await cp.start();
  const port = await cp.waitForPort('API server listening', 20_000);
  t.not(port, 1, 'KUMA_API_SERVER_HTTP_PORT=0 overrides the file');
  t.ok(cp.log.some((l) => l.msg === 'starting kuma-cp' && l.storeType === 'memory'), 'store.type from the file');
  const meshes = await kumactl(`http://127.0.0.1:${port}`, 'get', 'meshes', '-o', 'json');
  t.equal(JSON.parse(meshes.stdout).total, 0, 'defaults.skipMeshCreation from the file');

  // A second CP on the same API port cannot start: exit 1 (runtime failure), not a hang.
  const clash = await run(CP, ['run'], { env: cpEnv({ KUMA_STORE_TYPE: 'memory', KUMA_API_SERVER_HTTP_PORT: String(port), KUMA_GENERAL_WORK_DIR: path.join(tmp, 'w3') }) });
  t.equal(clash.code, 1);
  t.match(clash.stderr, /kuma-cp failed to start/);
  t.match(clash.stderr, /EADDRINUSE/);
});
