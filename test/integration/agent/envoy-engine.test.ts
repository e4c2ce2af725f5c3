/**
 * The Envoy engine's lifecycle against a fake Envoy executable (test/fixtures/fake-envoy):
 * exact argv, readiness through the admin API, drain, SIGTERM stop, crash propagation,
 * SIGKILL of an Envoy that ignores SIGTERM, restart under on-failure, and no orphans.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EnvoyEngine, type EnvoyEngineOptions } from '../../../agent/envoy/envoy-engine';
import { writeBootstrap } from '../../../agent/bootstrap/write';
import { silentLogger } from '../../../lib/logger';
import { bootstrapFor } from './support/cp-stub';
import { fakeEnvoyStarts } from './support/kuma-dp-process';
import { alive, waitFor, killIfAlive } from './support/proc';
import { freePort } from '../../../lib/free-port';

const FAKE_ENVOY = path.resolve(__dirname, '../../../../test/fixtures/fake-envoy/envoy');


interface Fixture {
  engine: EnvoyEngine;
  dir: string;
  argvFile: string;
  eventsFile: string;
  events: () => string[];
  starts: () => { pid: number; argv: string[] }[];
}

async function setup(t: any, env: Record<string, string>, opts: Partial<EnvoyEngineOptions> = {}): Promise<Fixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdp-envoy-'));
  const argvFile = path.join(dir, 'argv.jsonl');
  const eventsFile = path.join(dir, 'events.txt');
  const bootstrap = bootstrapFor(await freePort());
  const bootstrapPath = writeBootstrap(dir, bootstrap);
  const saved = { ...process.env };
  Object.assign(process.env, { FAKE_ENVOY_ARGV_FILE: argvFile, FAKE_ENVOY_EVENTS_FILE: eventsFile, ...env });
  const engine = new EnvoyEngine({
    bootstrap, bootstrapPath, workDir: dir, drainTimeMs: 300, logLevel: 'debug', extraArgs: ['--component-log-level', 'upstream:debug'],
    log: silentLogger(), binaryPath: FAKE_ENVOY, restartPolicy: 'never', stopTimeoutMs: 3000, readyPollMs: 50, ...opts,
  });
  const starts = () => fakeEnvoyStarts(argvFile);
  t.teardown(() => {
    engine.destroy();
    for (const s of starts()) killIfAlive(s.pid);
    process.env = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    engine, dir, argvFile, eventsFile, starts,
    events: () => (fs.existsSync(eventsFile) ? fs.readFileSync(eventsFile, 'utf8').trim().split('\n') : []),
  };
}

t.test('exact argv, readiness, metrics, drain, SIGTERM stop', async (t) => {
  const f = await setup(t, {}, { concurrency: 2 });
  await f.engine.start();
  t.ok(await waitFor(() => f.starts().length === 1, 3000), 'started once');
  const { pid, argv } = f.starts()[0];
  t.same(argv, ['--config-path', path.join(f.dir, 'bootstrap.yaml'), '--drain-time-s', '1', '--disable-hot-restart', '--log-level', 'debug', '--concurrency', '2', '--component-log-level', 'upstream:debug']);
  t.equal(f.engine.pid, pid);
  t.ok(await waitFor(() => f.engine.isReady(), 3000), 'ready once the admin /ready answers 200');
  const m = await f.engine.metrics();
  t.match(m, /kuma_dp_envoy_up 1/);
  t.match(m, /kuma_dp_envoy_process_resident_memory_bytes \d+/);
  t.match(m, /envoy_server_live\{\} 1/, "Envoy's own /stats/prometheus appended");
  const t0 = Date.now();
  await f.engine.drain();
  t.ok(Date.now() - t0 >= 250, 'drain waits the drain time');
  t.ok(f.events().includes('drain'), 'POST /drain_listeners reached Envoy');
  let exitEmitted = false;
  f.engine.on('exit', () => (exitEmitted = true));
  await f.engine.close();
  t.same(f.events(), ['start', 'drain', 'sigterm', 'exit 0']);
  t.notOk(alive(pid), 'Envoy is gone');
  t.notOk(exitEmitted, 'a requested stop is not an unexpected exit');
  t.notOk(f.engine.isReady());
});

t.test('a crash is reported with its exit code', async (t) => {
  const f = await setup(t, { FAKE_ENVOY_EXIT_CODE: '7', FAKE_ENVOY_EXIT_AFTER_MS: '100' });
  const exited = new Promise<[number | null, string | null]>((r) => f.engine.once('exit', (c, s) => r([c, s])));
  await f.engine.start();
  t.same(await exited, [7, null]);
});

t.test('an Envoy that ignores SIGTERM gets SIGKILL after the deadline; its children go too', async (t) => {
  const childPidFile = path.join(os.tmpdir(), `kdp-grandchild-${process.pid}`);
  t.teardown(() => fs.rmSync(childPidFile, { force: true }));
  const f = await setup(t, { FAKE_ENVOY_IGNORE_SIGTERM: '1', FAKE_ENVOY_CHILD_PID_FILE: childPidFile }, { stopTimeoutMs: 400 });
  await f.engine.start();
  t.ok(await waitFor(() => fs.existsSync(childPidFile) && fs.readFileSync(childPidFile, 'utf8') !== '', 3000));
  const grandchild = Number(fs.readFileSync(childPidFile, 'utf8'));
  t.teardown(() => killIfAlive(grandchild));
  const pid = f.starts()[0].pid;
  t.ok(alive(grandchild), 'grandchild runs');
  const t0 = Date.now();
  await f.engine.close();
  const took = Date.now() - t0;
  t.ok(took >= 380 && took < 6000, `stopped after the 400 ms deadline (${took} ms)`);
  t.same(f.events(), ['start', 'sigterm'], 'SIGTERM was delivered and ignored');
  t.ok(await waitFor(() => !alive(pid), 2000), 'Envoy is gone');
  t.ok(await waitFor(() => !alive(grandchild), 2000), 'no orphan: the grandchild is gone');
});

t.test('a crash also takes the process group along', async (t) => {
  const childPidFile = path.join(os.tmpdir(), `kdp-grandchild2-${process.pid}`);
  t.teardown(() => fs.rmSync(childPidFile, { force: true }));
  const f = await setup(t, { FAKE_ENVOY_EXIT_CODE: '3', FAKE_ENVOY_EXIT_AFTER_MS: '300', FAKE_ENVOY_CHILD_PID_FILE: childPidFile });
  const exited = new Promise((r) => f.engine.once('exit', r));
  await f.engine.start();
  await exited;
  const grandchild = Number(fs.readFileSync(childPidFile, 'utf8'));
  t.teardown(() => killIfAlive(grandchild));
  t.ok(await waitFor(() => !alive(grandchild), 2000), 'grandchild killed with the group');
});

t.test('restart-policy on-failure restarts with backoff until stopped', async (t) => {
  const f = await setup(t, { FAKE_ENVOY_EXIT_CODE: '3', FAKE_ENVOY_EXIT_AFTER_MS: '50' }, { restartPolicy: 'on-failure', restartBackoff: { initialMs: 40, maxMs: 200 } });
  let emitted = false;
  f.engine.on('exit', () => (emitted = true));
  await f.engine.start();
  t.ok(await waitFor(() => f.starts().length >= 3, 15_000), `restarted (${f.starts().length} starts)`);
  t.notOk(emitted, 'no exit event while restarting');
  t.match(await f.engine.metrics(), /kuma_dp_envoy_restarts_total [1-9]/);
  await f.engine.close();
  const n = f.starts().length;
  await new Promise((r) => setTimeout(r, 400));
  t.equal(f.starts().length, n, 'no restart after close');
  for (const s of f.starts()) t.notOk(alive(s.pid), `pid ${s.pid} gone`);
});

t.test('a binary that cannot start fails start()', async (t) => {
  const f = await setup(t, {}, { binaryPath: '/nonexistent/envoy' });
  await t.rejects(f.engine.start(), /cannot start Envoy "\/nonexistent\/envoy"/);
});
