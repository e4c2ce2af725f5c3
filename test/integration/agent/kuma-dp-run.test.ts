/**
 * `kuma-dp run` as a real process, the way operators start it: against a scripted
 * HTTPS DP server and the fake Envoy. Startup order, readiness states, metrics, the
 * exact Envoy argv, DNS, SIGTERM drain, exit codes, and several kuma-dp on one host.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeCert } from './support/tls';
import { CpStub, bootstrapFor } from './support/cp-stub';
import { KumaDpProcess, FAKE_ENVOY, fakeEnvoyStarts, httpGet, onFreeDnsPort } from './support/kuma-dp-process';
import { alive, waitFor, killIfAlive } from './support/proc';

const run = promisify(execFile);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kdp-run-'));
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
const cert = makeCert(root);
const tokenFile = path.join(root, 'token');
fs.writeFileSync(tokenFile, 'dp-token-value\n');
const dpFile = path.join(root, 'dp.yaml');
fs.writeFileSync(dpFile, `type: Dataplane
mesh: default
name: {{ name }}
networking:
  address: 127.0.0.1
  inbound:
    - port: {{ port }}
      servicePort: 18080
      tags:
        kuma.io/service: backend
`);

/** A CP stub that answers 404 `notFound` times, then a bootstrap on the requested admin port. */
async function cp(t: any, notFound = 0): Promise<CpStub> {
  const stub = new CpStub(cert);
  stub.answers = [
    ...Array.from({ length: notFound }, () => ({ status: 404, body: { title: 'Not found' } })),
    (req: any) => ({ status: 200, body: { bootstrap: bootstrapFor(req.adminPort), kumaSidecarConfiguration: {} } }),
  ];
  stub.vips = { status: 200, body: { mesh: 'default', ttl: 20, vips: { web: '240.0.0.3' } } };
  await stub.start();
  t.teardown(() => stub.stop());
  return stub;
}

function start(t: any, stub: CpStub, name: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}, dashArgs: string[] = []) {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  const files = { argv: path.join(dir, 'argv.jsonl'), events: path.join(dir, 'events.txt'), work: path.join(dir, 'work') };
  const p = new KumaDpProcess(
    ['run', `--cp-address=${stub.url}`, `--ca-cert-file=${cert.certFile}`, `--dataplane-file=${dpFile}`, '--dataplane-var', `name=${name}`, '-v', 'port=10080',
      `--dataplane-token-file=${tokenFile}`, `--binary-path=${FAKE_ENVOY}`, `--config-dir=${files.work}`, '--drain-time=1s', ...extra, ...(dashArgs.length ? ['--', ...dashArgs] : [])],
    { KUMA_CONTROL_PLANE_RETRY_BACKOFF: '50ms', FAKE_ENVOY_ARGV_FILE: files.argv, FAKE_ENVOY_EVENTS_FILE: files.events, ...env },
  );
  const envoyPids = () => fakeEnvoyStarts(files.argv).map((s) => s.pid);
  t.teardown(() => {
    p.kill();
    for (const pid of envoyPids()) killIfAlive(pid);
  });
  const events = () => (fs.existsSync(files.events) ? fs.readFileSync(files.events, 'utf8').trim().split('\n') : []);
  return { p, files, envoyPids, events, dir };
}

t.test('registers, runs Envoy, serves readiness, metrics and DNS, drains on SIGTERM', async (t) => {
  const stub = await cp(t, 2);
  const { p, files, envoyPids, events, dnsPort } = await onFreeDnsPort((port) =>
    start(t, stub, 'dp-1', ['--dns-enabled', `--dns-proxy-port=${port}`, '--dns-upstream=127.0.0.1:9', '--concurrency=1', '--drain-time=2s'], {}, ['--component-log-level', 'upstream:debug']),
  );
  const readiness = (await p.waitLog('readiness listening')).port as number;
  t.ok(readiness > 0, `readiness on a free port (${readiness})`);
  await p.waitLog('kuma-dp started');
  t.same(p.logs().filter((l) => l.msg === 'dataplane not registered yet, retrying').map((l) => l.attempt), [1, 2], 'two 404s logged with attempts');
  t.ok(await waitFor(async () => (await httpGet(readiness, '/ready')).status === 200, 5000), 'READY');
  t.same(await httpGet(readiness, '/ready'), { status: 200, body: 'READY\n' });

  const req = stub.bootstrapRequests[2];
  t.equal(req.name, 'dp-1');
  t.equal(req.mesh, 'default');
  t.equal(req.dataplaneToken, 'dp-token-value');
  t.equal(JSON.parse(req.dataplaneResource).networking.inbound[0].port, 10080, 'template rendered');
  t.equal(req.readinessPort, readiness);
  t.equal(req.version.envoy.version, '1.30.1', 'version read from envoy --version');
  t.equal(req.dnsPort, dnsPort);
  t.equal(fs.statSync(path.join(files.work, 'bootstrap.yaml')).mode & 0o777, 0o600);

  const [envoyPid] = envoyPids();
  const argv = JSON.parse(fs.readFileSync(files.argv, 'utf8').trim()).argv;
  t.same(argv, ['--config-path', path.join(files.work, 'bootstrap.yaml'), '--drain-time-s', '2', '--disable-hot-restart', '--log-level', 'info', '--concurrency', '1', '--component-log-level', 'upstream:debug']);

  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(dnsPort), '+short', '+time=2', '+tries=1', 'web.mesh'], { timeout: 10_000 });
  t.equal(stdout.trim(), '240.0.0.3', 'DNS answers from the VIP table fetched from the CP');
  t.equal(stub.vipsRequests[0].authorization, 'Bearer dp-token-value');

  const metrics = (await httpGet(readiness, '/metrics')).body;
  t.match(metrics, /kuma_dp_bootstrap_attempts_total\{outcome="404"\} 2/);
  t.match(metrics, /kuma_dp_bootstrap_attempts_total\{outcome="ok"\} 1/);
  t.match(metrics, /kuma_dp_dns_queries_total\{rcode="NOERROR"\} 1/);
  t.match(metrics, /process_resident_memory_bytes \d+/);
  t.match(metrics, /kuma_dp_envoy_process_resident_memory_bytes \d+/);
  t.match(metrics, /envoy_server_live\{\} 1/);
  t.match(metrics, /kuma_dp_ready 1/);

  const t0 = Date.now();
  p.child.kill('SIGTERM');
  t.ok(await waitFor(async () => (await httpGet(readiness, '/ready').catch(() => ({ status: 0, body: '' }))).body === 'TERMINATING\n', 1500), '503 TERMINATING during the drain');
  t.equal((await httpGet(readiness, '/ready')).status, 503);
  const exit = await p.exited;
  const took = Date.now() - t0;
  t.same(exit, { code: 0, signal: null }, 'clean exit');
  t.ok(took >= 1900, `waited the drain time (${took} ms)`);
  t.same(events(), ['start', 'drain', 'sigterm', 'exit 0'], 'Envoy drained, then stopped');
  t.notOk(alive(envoyPid), 'no Envoy left');
});

t.test("Envoy's crash becomes kuma-dp's exit status", async (t) => {
  const stub = await cp(t);
  const { p, envoyPids } = start(t, stub, 'dp-crash', [], { FAKE_ENVOY_EXIT_CODE: '7', FAKE_ENVOY_EXIT_AFTER_MS: '300' });
  const exit = await p.exited;
  t.equal(exit.code, 7);
  t.match(p.stderr, /proxy engine exited; stopping kuma-dp/);
  for (const pid of envoyPids()) t.notOk(alive(pid));
});

t.test('403 from the CP: exit 1 with the CP message, no Envoy', async (t) => {
  const stub = new CpStub(cert);
  stub.answers = [{ status: 403, body: { title: 'Forbidden', details: 'dataplane token is not valid for mesh "default"' } }];
  await stub.start();
  t.teardown(() => stub.stop());
  const { p, envoyPids } = start(t, stub, 'dp-403');
  const exit = await p.exited;
  t.equal(exit.code, 1);
  t.match(p.stderr, /kuma-dp: error: control plane rejected the bootstrap request \(HTTP 403\): Forbidden; dataplane token is not valid for mesh "default"/);
  t.same(envoyPids(), []);
});

t.test('usage errors exit 64 before anything is bound', async (t) => {
  const p = new KumaDpProcess(['run', '--dataplane-file', dpFile, '-v', 'name=x']);
  t.teardown(() => p.kill());
  const exit = await p.exited;
  t.equal(exit.code, 64);
  t.equal(p.stderr, 'kuma-dp: error: --dataplane-var: the dataplane template uses {{ port }} but no value was given; pass --dataplane-var port=VALUE\n');
  const q = new KumaDpProcess(['run', '--name=x', '--mesh=m', '--restart-policy=sometimes']);
  t.teardown(() => q.kill());
  t.equal((await q.exited).code, 64);
  t.match(q.stderr, /--restart-policy: invalid value "sometimes"; valid: never, on-failure/);
  const v = new KumaDpProcess(['version']);
  t.equal((await v.exited).code, 0);
  t.match(v.stdout, /^kuma-dp \d+\.\d+\.\d+/);
});

t.test('--engine=envoy without any Envoy names the places searched', async (t) => {
  const stub = await cp(t);
  const home = path.join(root, 'empty-home');
  fs.mkdirSync(home, { recursive: true });
  const p = new KumaDpProcess(['run', `--cp-address=${stub.url}`, `--ca-cert-file=${cert.certFile}`, '--name=x', '--mesh=default', '--engine=envoy'], { HOME: home, PATH: path.join(root, 'no-bin'), FUNC_E_DATA_HOME: '', FUNC_E_CONFIG_HOME: '', ENVOY_VERSION: '' });
  t.teardown(() => p.kill());
  t.equal((await p.exited).code, 1);
  t.match(p.stderr, /--engine=envoy: no Envoy binary found; searched: .*envoy-version.*no-bin\/envoy/);
  t.equal(stub.bootstrapRequests.length, 0, 'no bootstrap without an engine');
});

t.test('SIGTERM while the CP does not know the dataplane yet: prompt clean exit', async (t) => {
  const stub = await cp(t, 1000);
  const { p } = start(t, stub, 'dp-wait');
  await p.waitLog('dataplane not registered yet, retrying');
  const readiness = (await p.waitLog('readiness listening')).port;
  t.same(await httpGet(readiness, '/ready'), { status: 503, body: 'NOT READY\n' }, 'probes get NOT READY while the bootstrap is retried');
  p.child.kill('SIGTERM');
  const t0 = Date.now();
  t.same(await p.exited, { code: 0, signal: null });
  t.ok(Date.now() - t0 < 6000);
});

t.test('a second signal forces the exit; the Envoy group still goes', async (t) => {
  const stub = await cp(t);
  const { p, envoyPids } = start(t, stub, 'dp-force', ['--drain-time=30s'], { FAKE_ENVOY_IGNORE_SIGTERM: '1' });
  await p.waitLog('kuma-dp started');
  t.ok(await waitFor(() => envoyPids().length === 1, 5000), 'Envoy runs');
  const [envoyPid] = envoyPids();
  p.child.kill('SIGTERM');
  await p.waitLog('draining proxy connections');
  p.child.kill('SIGTERM');
  const t0 = Date.now();
  const exit = await p.exited;
  t.ok(Date.now() - t0 < 8000, 'did not wait the 30 s drain');
  t.equal(exit.code, 143);
  t.ok(await waitFor(() => !alive(envoyPid), 2000), 'Envoy killed');
});

t.test('several kuma-dp on one host pick their own ports', async (t) => {
  const stub = await cp(t);
  const a = start(t, stub, 'dp-a');
  const b = start(t, stub, 'dp-b');
  const [ra, rb] = await Promise.all([a.p.waitLog('readiness listening'), b.p.waitLog('readiness listening')]);
  t.not(ra.port, rb.port);
  await Promise.all([a.p.waitLog('kuma-dp started'), b.p.waitLog('kuma-dp started')]);
  const admins = stub.bootstrapRequests.map((r) => r.adminPort);
  t.equal(new Set(admins).size, 2, 'distinct admin ports');
  t.ok(await waitFor(async () => (await httpGet(ra.port, '/ready')).status === 200 && (await httpGet(rb.port, '/ready')).status === 200, 5000), 'both READY');
  a.p.child.kill('SIGTERM');
  b.p.child.kill('SIGTERM');
  t.equal((await a.p.exited).code, 0);
  t.equal((await b.p.exited).code, 0);
});

t.test('zone ingress: a ZoneIngress template, proxyType ingress, no DNS', async (t) => {
  const stub = await cp(t);
  const ingressFile = path.join(root, 'ingress.yaml');
  fs.writeFileSync(ingressFile, 'type: ZoneIngress\nname: ingress-{{ zone }}\nnetworking:\n  address: 127.0.0.1\n  port: 10001\n  advertisedAddress: 127.0.0.1\n  advertisedPort: 10001\n');
  const dir = path.join(root, 'ingress');
  const p = new KumaDpProcess(['run', '--proxy-type=ingress', `--cp-address=${stub.url}`, `--ca-cert-file=${cert.certFile}`, `--dataplane-file=${ingressFile}`, '-v', 'zone=zone-1',
    `--dataplane-token-file=${tokenFile}`, `--binary-path=${FAKE_ENVOY}`, `--config-dir=${dir}`, '--dns-enabled', '--drain-time=100ms'], { FAKE_ENVOY_ARGV_FILE: path.join(root, 'ingress-argv.jsonl') });
  t.teardown(() => p.kill());
  await p.waitLog('kuma-dp started');
  const req = stub.bootstrapRequests[0];
  t.equal(req.proxyType, 'ingress');
  t.equal(req.name, 'ingress-zone-1');
  t.equal(req.mesh, '');
  t.equal(JSON.parse(req.dataplaneResource).type, 'ZoneIngress');
  t.ok(p.logs().some((l) => l.msg === 'DNS is not served for zone proxies'));
  t.notOk(p.logs().some((l) => l.msg === 'DNS server listening'));
  t.ok(await waitFor(() => fakeEnvoyStarts(path.join(root, 'ingress-argv.jsonl')).length === 1, 5000), 'Envoy runs');
  p.child.kill('SIGTERM');
  t.equal((await p.exited).code, 0);
  const [{ pid }] = fakeEnvoyStarts(path.join(root, 'ingress-argv.jsonl'));
  t.notOk(alive(pid));
});

t.test('even a SIGKILLed kuma-dp leaves no Envoy behind (parent-death signal)', async (t) => {
  const stub = await cp(t);
  const { p, envoyPids } = start(t, stub, 'dp-sigkill');
  await p.waitLog('kuma-dp started');
  t.ok(await waitFor(() => envoyPids().length === 1, 5000), 'Envoy runs');
  const [envoyPid] = envoyPids();
  t.ok(alive(envoyPid));
  p.child.kill('SIGKILL');
  await p.exited;
  t.ok(await waitFor(() => !alive(envoyPid), 3000), 'Envoy died with kuma-dp');
});

t.test('--restart-policy=on-failure keeps kuma-dp up while Envoy crashes', async (t) => {
  const stub = await cp(t);
  const { p, envoyPids } = start(t, stub, 'dp-restart', ['--restart-policy=on-failure'], { FAKE_ENVOY_EXIT_CODE: '9', FAKE_ENVOY_EXIT_AFTER_MS: '200' });
  const readiness = (await p.waitLog('readiness listening')).port;
  t.ok(await waitFor(() => envoyPids().length >= 3, 20_000), `Envoy restarted (${envoyPids().length} starts)`);
  t.equal(p.child.exitCode, null, 'kuma-dp still runs');
  t.match((await httpGet(readiness, '/metrics')).body, /kuma_dp_envoy_restarts_total [2-9]/);
  t.ok(p.logs().some((l) => l.msg === 'Envoy exited unexpectedly; restarting' && l.code === 9));
  p.child.kill('SIGTERM');
  t.equal((await p.exited).code, 0);
  for (const pid of envoyPids()) t.ok(await waitFor(() => !alive(pid), 2000), `Envoy ${pid} gone`);
});

t.test('restarted while the CP is down: DNS answers from the VIP cache while the bootstrap is retried', async (t) => {
  const stub = await cp(t);
  const url = stub.url;
  await stub.stop();
  const work = path.join(root, 'dp-cached', 'work');
  fs.mkdirSync(work, { recursive: true });
  fs.writeFileSync(path.join(work, 'dns-vips.json'), JSON.stringify({ mesh: 'default', ttl: 20, vips: { cached: '240.0.0.44' } }));
  const { p, dnsPort } = await onFreeDnsPort((port) => {
    const p = new KumaDpProcess(['run', `--cp-address=${url}`, `--ca-cert-file=${cert.certFile}`, `--dataplane-file=${dpFile}`, '-v', 'name=dp-cached', '-v', 'port=10080',
      `--binary-path=${FAKE_ENVOY}`, `--config-dir=${work}`, '--dns-enabled', `--dns-proxy-port=${port}`, '--dns-upstream=127.0.0.1:9'], { KUMA_CONTROL_PLANE_RETRY_BACKOFF: '200ms' });
    t.teardown(() => p.kill());
    return { p };
  });
  await p.waitLog('bootstrap request failed, retrying');
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(dnsPort), '+short', '+time=2', '+tries=1', 'cached.mesh'], { timeout: 10_000 });
  t.equal(stdout.trim(), '240.0.0.44', 'answered from the cache with no CP');
  t.notOk(p.logs().some((l) => l.msg === 'kuma-dp started'), 'still waiting for the bootstrap');
  p.child.kill('SIGTERM');
  t.equal((await p.exited).code, 0);
});
