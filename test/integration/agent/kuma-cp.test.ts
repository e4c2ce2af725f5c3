/**
 * kuma-dp against a real `kuma-cp run` (standalone, memory store, dataplane tokens on):
 * a dataplane registers itself through /bootstrap with a token from kumactl, gets its
 * bootstrap, resolves a VIP the CP allocated; a dataplane the CP does not know yet waits
 * (404, retried) until it is applied; a token for another dataplane is refused; and the
 * embedded engine gets its config over ADS and reports READY.
 */
import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { KumaDpProcess, FAKE_ENVOY, httpGet, onFreeDnsPort } from './support/kuma-dp-process';
import { alive, waitFor } from './support/proc';
import { freeUdpTcpPort } from './support/ports';
import { freePort } from '../../../lib/free-port';

const run = promisify(execFile);
const KUMA_CP = path.resolve(__dirname, '../../../cp/main.js');
const KUMACTL = path.resolve(__dirname, '../../../kumactl/main.js');



function api(port: number, method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, method, path: p, agent: false, timeout: 5000, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let parsed: any = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // keep text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kdp-cp-'));
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

interface Cp {
  child: ChildProcess;
  apiPort: number;
  dpPort: number;
  caFile: string;
  token(name: string, type?: string): Promise<string>;
}

/**
 * Spawns kuma-cp on ports picked in advance (its config takes numbers), and again on new
 * ones when one was taken in between by another test: kuma-cp then exits at start-up with
 * EADDRINUSE (the API server starts last, after "DP server listening", so only "kuma-cp
 * started" says every port was bound). The DNS port is free for UDP and TCP, as the CP's
 * DNS server binds both. Resolves with its "DP server listening" log line.
 */
async function spawnCp(tries = 5): Promise<{ child: ChildProcess; apiPort: number; line: any }> {
  for (let attempt = 1; ; attempt++) {
    const [apiPort, dnsPort, diagPort, vipPort] = await Promise.all([freePort(), freeUdpTcpPort(), freePort(), freePort()]);
    const child = spawn(process.execPath, [KUMA_CP, 'run'], {
      env: {
        ...process.env, KUMA_MODE: 'standalone', KUMA_STORE_TYPE: 'memory', KUMA_GENERAL_WORK_DIR: path.join(root, 'cp'),
        KUMA_API_SERVER_HTTP_PORT: String(apiPort), KUMA_DP_SERVER_PORT: '0', KUMA_DNS_SERVER_PORT: String(dnsPort),
        KUMA_DIAGNOSTICS_SERVER_PORT: String(diagPort), KUMA_DNS_SERVER_CIDR: '127.64.0.0/10', KUMA_DNS_SERVER_SERVICE_VIP_PORT: String(vipPort),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // child.kill, not a kill by a saved pid: a failed attempt's pid may be reused by teardown time.
    t.teardown(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    // Complete lines only: the last one may still be arriving.
    const logs = (): any[] => stderr.split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const started = await waitFor(() => logs().some((l) => l.msg === 'kuma-cp started') || child.exitCode !== null, 30_000);
    const line = logs().find((l) => l.msg === 'DP server listening');
    if (started && child.exitCode === null && line) return { child, apiPort, line };
    // 'exit' can come before the last stderr chunk is read, hence the short wait for the code.
    const inUse = () => logs().some((l) => l.msg === 'kuma-cp failed to start' && l.err?.code === 'EADDRINUSE');
    const clash = child.exitCode !== null && (await waitFor(inUse, 2000));
    if (!clash || attempt >= tries) throw new Error(`kuma-cp did not start: ${stderr.slice(-2000)}`);
  }
}

async function startCp(): Promise<Cp> {
  const { child, apiPort, line } = await spawnCp();
  await waitFor(async () => (await api(apiPort, 'GET', '/meshes/default').catch(() => ({ status: 0 }))).status === 200, 20_000);
  return {
    child, apiPort, dpPort: Number(line.port), caFile: String(line.caFile),
    async token(name, type = 'dataplane') {
      const { stdout } = await run(process.execPath, [KUMACTL, 'generate', 'dataplane-token', '--mesh', 'default', '--name', name, '--type', type, '--cp-address', `http://127.0.0.1:${apiPort}`], { timeout: 20_000 });
      const file = path.join(root, `token-${name}`);
      fs.writeFileSync(file, stdout.trim());
      return file;
    },
  };
}

function dpYaml(name: string, inboundPort: number, service: string): string {
  return `type: Dataplane\nmesh: default\nname: ${name}\nnetworking:\n  address: 127.0.0.1\n  inbound:\n    - port: ${inboundPort}\n      servicePort: ${inboundPort + 1}\n      tags:\n        kuma.io/service: ${service}\n`;
}

t.test('with a real kuma-cp', async (t) => {
  const cp = await startCp();
  const cpArgs = [`--cp-address=https://127.0.0.1:${cp.dpPort}`, `--ca-cert-file=${cp.caFile}`];

  await t.test('a dataplane registers itself, gets its bootstrap, and resolves VIPs', async (t) => {
    // another service, so that the CP allocates a VIP for it
    const webPort = await freePort();
    t.equal((await api(cp.apiPort, 'PUT', '/meshes/default/dataplanes/web-1', { type: 'Dataplane', mesh: 'default', name: 'web-1', networking: { address: '127.0.0.1', inbound: [{ port: webPort, servicePort: webPort + 1, tags: { 'kuma.io/service': 'web' } }] } })).status < 300, true);
    const dpFile = path.join(root, 'dp-1.yaml');
    fs.writeFileSync(dpFile, dpYaml('{{ name }}', await freePort(), 'backend'));
    const argvFile = path.join(root, 'dp-1-argv.jsonl');
    const tokenFile = await cp.token('dp-1');
    const { p, dnsPort } = await onFreeDnsPort((port) => {
      const p = new KumaDpProcess(['run', ...cpArgs, `--dataplane-file=${dpFile}`, '-v', 'name=dp-1', `--dataplane-token-file=${tokenFile}`,
        `--binary-path=${FAKE_ENVOY}`, `--config-dir=${path.join(root, 'dp-1')}`, '--dns-enabled', `--dns-proxy-port=${port}`, '--dns-upstream=127.0.0.1:9',
        '--dns-refresh-interval=200ms', '--drain-time=200ms'], { FAKE_ENVOY_ARGV_FILE: argvFile });
      t.teardown(() => p.kill());
      return { p };
    }, { ms: 20_000 });
    await p.waitLog('kuma-dp started', 20_000);
    const readiness = (await p.waitLog('readiness listening')).port;
    t.ok(await waitFor(async () => (await httpGet(readiness, '/ready')).status === 200, 10_000), 'READY (Envoy admin from the CP bootstrap answers)');
    const registered = await api(cp.apiPort, 'GET', '/meshes/default/dataplanes/dp-1');
    t.equal(registered.status, 200, 'the CP stored the Dataplane from the bootstrap request');
    t.equal(registered.body.networking.inbound[0].tags['kuma.io/service'], 'backend');
    const bootstrap = fs.readFileSync(path.join(root, 'dp-1', 'bootstrap.yaml'), 'utf8');
    t.match(bootstrap, /dp-1/, 'bootstrap names the dataplane');
    t.match(bootstrap, new RegExp(`port_value: ${p.logs().find((l) => l.msg === 'received bootstrap configuration').adminPort}`));
    t.match(bootstrap, new RegExp(String(cp.dpPort)), 'ADS points at the DP server');
    // the CP's VIP for web, through kuma-dp's DNS
    let vip = '';
    t.ok(await waitFor(async () => {
      const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(dnsPort), '+short', '+time=1', '+tries=1', 'web.mesh'], { timeout: 5000 }).catch(() => ({ stdout: '' }));
      vip = stdout.trim();
      return /^127\.\d+\.\d+\.\d+$/.test(vip);
    }, 15_000), `web.mesh resolves to a VIP from the CP (${vip})`);
    const { stdout: nx } = await run('dig', ['@127.0.0.1', '-p', String(dnsPort), '+time=1', '+tries=1', 'nothing-here.mesh'], { timeout: 5000 });
    t.match(nx, /status: NXDOMAIN/);
    const envoyPid = JSON.parse(fs.readFileSync(argvFile, 'utf8').trim().split('\n')[0]).pid;
    p.child.kill('SIGTERM');
    t.equal((await p.exited).code, 0);
    t.notOk(alive(envoyPid));
  });

  await t.test('a dataplane the CP does not know waits (404, retried) until it is applied', async (t) => {
    const port = await freePort();
    const p = new KumaDpProcess(['run', ...cpArgs, '--name=late-1', '--mesh=default', `--dataplane-token-file=${await cp.token('late-1')}`, `--binary-path=${FAKE_ENVOY}`, '--drain-time=100ms'],
      { KUMA_CONTROL_PLANE_RETRY_BACKOFF: '100ms' });
    t.teardown(() => p.kill());
    const first = await p.waitLog('dataplane not registered yet, retrying', 15_000);
    t.equal(first.attempt, 1);
    t.equal((await api(cp.apiPort, 'PUT', '/meshes/default/dataplanes/late-1', { type: 'Dataplane', mesh: 'default', name: 'late-1', networking: { address: '127.0.0.1', inbound: [{ port, servicePort: port + 1, tags: { 'kuma.io/service': 'late' } }] } })).status < 300, true);
    await p.waitLog('kuma-dp started', 15_000);
    p.child.kill('SIGTERM');
    t.equal((await p.exited).code, 0);
  });

  await t.test("a token for another dataplane is refused with the CP's message", async (t) => {
    const dpFile = path.join(root, 'thief.yaml');
    fs.writeFileSync(dpFile, dpYaml('thief', await freePort(), 'backend'));
    const p = new KumaDpProcess(['run', ...cpArgs, `--dataplane-file=${dpFile}`, `--dataplane-token-file=${await cp.token('someone-else')}`, `--binary-path=${FAKE_ENVOY}`]);
    t.teardown(() => p.kill());
    const exit = await p.exited;
    t.equal(exit.code, 1);
    t.match(p.stderr, /kuma-dp: error: control plane rejected the bootstrap request \(HTTP 40[13]\)/);
    t.equal((await api(cp.apiPort, 'GET', '/meshes/default/dataplanes/thief')).status, 404, 'nothing registered');
  });

  await t.test('a delegated gateway registers and runs', async (t) => {
    const gwFile = path.join(root, 'gw.yaml');
    fs.writeFileSync(gwFile, 'type: Dataplane\nmesh: default\nname: edge-1\nnetworking:\n  address: 127.0.0.1\n  gateway:\n    type: DELEGATED\n    tags:\n      kuma.io/service: edge\n');
    const p = new KumaDpProcess(['run', ...cpArgs, `--dataplane-file=${gwFile}`, `--dataplane-token-file=${await cp.token('edge-1')}`, `--binary-path=${FAKE_ENVOY}`, '--drain-time=100ms']);
    t.teardown(() => p.kill());
    await p.waitLog('kuma-dp started', 15_000);
    const r = await api(cp.apiPort, 'GET', '/meshes/default/dataplanes/edge-1');
    t.equal(r.status, 200);
    t.equal(r.body.networking.gateway.type, 'DELEGATED');
    p.child.kill('SIGTERM');
    t.equal((await p.exited).code, 0);
  });

  await t.test('the embedded engine gets its config over ADS and reports READY', async (t) => {
    const dpFile = path.join(root, 'emb.yaml');
    fs.writeFileSync(dpFile, dpYaml('emb-1', await freePort(), 'emb'));
    const p = new KumaDpProcess(['run', ...cpArgs, `--dataplane-file=${dpFile}`, `--dataplane-token-file=${await cp.token('emb-1')}`, '--engine=embedded', `--config-dir=${path.join(root, 'emb')}`, '--drain-time=200ms']);
    t.teardown(() => p.kill());
    const readiness = (await p.waitLog('readiness listening')).port;
    t.ok(await waitFor(async () => (await httpGet(readiness, '/ready').catch(() => ({ status: 0 }))).status === 200, 20_000), `READY (${p.stderr.split('\n').filter((l) => /error|warn/i.test(l)).slice(-3).join(' | ')})`);
    t.ok(p.logs().some((l) => l.msg === 'selected engine' && l.engine === 'embedded' || l.msg === 'kuma-dp started' && l.engine === 'embedded'));
    p.child.kill('SIGTERM');
    t.equal((await p.exited).code, 0);
  });
});
