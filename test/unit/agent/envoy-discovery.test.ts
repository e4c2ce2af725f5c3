import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { discoverEnvoy, defaultDiscoveryDeps } from '../../../agent/envoy/discovery';
import { envoyArgs } from '../../../agent/envoy/args';
import { parseEnvoyVersion, readEnvoyVersion } from '../../../agent/envoy/version';

function exe(p: string): void {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, '#!/bin/sh\n', { mode: 0o755 });
}

t.test("func-e's layout, in func-e's order", async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kdp-disc-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const home = path.join(root, 'home');
  const cwd = path.join(root, 'cwd');
  fs.mkdirSync(cwd, { recursive: true });
  const bin = path.join(root, 'bin');
  const deps = (env: NodeJS.ProcessEnv) => ({ ...defaultDiscoveryDeps(), env: { PATH: bin, ...env }, home, cwd });

  let r = discoverEnvoy(undefined, deps({}));
  t.equal(r.path, undefined, 'nothing installed');
  t.ok(r.searched.some((s) => s.includes(path.join('.config', 'func-e', 'envoy-version'))), 'searched the func-e version file');
  t.ok(r.searched.includes(path.join(bin, 'envoy')), 'searched PATH');

  exe(path.join(bin, 'envoy'));
  t.equal(discoverEnvoy(undefined, deps({})).path, path.join(bin, 'envoy'), 'PATH last');

  // newest installed version when none is selected
  exe(path.join(home, '.local/share/func-e/envoy-versions/1.29.2/bin/envoy'));
  exe(path.join(home, '.local/share/func-e/envoy-versions/1.30.1/bin/envoy'));
  t.equal(discoverEnvoy(undefined, deps({})).path, path.join(home, '.local/share/func-e/envoy-versions/1.30.1/bin/envoy'));

  // $FUNC_E_CONFIG_HOME/envoy-version selects
  const cfgHome = path.join(root, 'cfg');
  fs.mkdirSync(cfgHome);
  fs.writeFileSync(path.join(cfgHome, 'envoy-version'), '1.29.2\n');
  t.equal(discoverEnvoy(undefined, deps({ FUNC_E_CONFIG_HOME: cfgHome })).path, path.join(home, '.local/share/func-e/envoy-versions/1.29.2/bin/envoy'));

  // ./.envoy-version beats the config home
  const dataHome = path.join(root, 'data');
  exe(path.join(dataHome, 'envoy-versions/1.31.0/bin/envoy'));
  fs.writeFileSync(path.join(cwd, '.envoy-version'), '1.31.0');
  t.equal(discoverEnvoy(undefined, deps({ FUNC_E_CONFIG_HOME: cfgHome, FUNC_E_DATA_HOME: dataHome })).path, path.join(dataHome, 'envoy-versions/1.31.0/bin/envoy'));

  // $ENVOY_VERSION beats everything, legacy $FUNC_E_HOME/versions is searched too
  const legacy = path.join(root, 'legacy');
  exe(path.join(legacy, 'versions/1.20.0/bin/envoy'));
  r = discoverEnvoy(undefined, deps({ ENVOY_VERSION: '1.20.0', FUNC_E_HOME: legacy, FUNC_E_DATA_HOME: dataHome }));
  t.equal(r.path, path.join(legacy, 'versions/1.20.0/bin/envoy'));
  t.match(r.how, /ENVOY_VERSION/);

  // --binary-path wins and is exact
  t.equal(discoverEnvoy(path.join(bin, 'envoy'), deps({ ENVOY_VERSION: '1.20.0' })).path, path.join(bin, 'envoy'));
  r = discoverEnvoy(path.join(root, 'nope'), deps({}));
  t.equal(r.path, undefined);
  t.same(r.searched, [path.join(root, 'nope')]);
  // a non-executable file is not Envoy
  fs.writeFileSync(path.join(root, 'plain'), 'x', { mode: 0o644 });
  t.equal(discoverEnvoy(path.join(root, 'plain'), deps({})).path, undefined);
});

t.test('Envoy argv is exact', async (t) => {
  t.same(envoyArgs({ configPath: '/w/bootstrap.yaml', drainTimeMs: 30_000, logLevel: 'info', extraArgs: [] }), [
    '--config-path', '/w/bootstrap.yaml', '--drain-time-s', '30', '--disable-hot-restart', '--log-level', 'info',
  ]);
  t.same(envoyArgs({ configPath: 'b', drainTimeMs: 1500, logLevel: 'debug', concurrency: 4, extraArgs: ['--x', 'y'] }), [
    '--config-path', 'b', '--drain-time-s', '2', '--disable-hot-restart', '--log-level', 'debug', '--concurrency', '4', '--x', 'y',
  ]);
});

t.test('envoy --version output', async (t) => {
  t.same(parseEnvoyVersion('\nenvoy  version: 5f1b7d5/1.28.0/Clean/RELEASE/BoringSSL\n'), { version: '1.28.0', build: '5f1b7d5/1.28.0/Clean/RELEASE/BoringSSL' });
  t.same(parseEnvoyVersion('envoy  version: abc/1.30.1-dev/Modified/DEBUG/BoringSSL-FIPS').version, '1.30.1-dev');
  t.throws(() => parseEnvoyVersion('hello'), /unrecognised/);
});

t.test('envoy --version: a slow answer is waited for once more, a failing one is not', async (t) => {
  const fake = path.resolve(__dirname, '../../../../test/fixtures/fake-envoy/envoy');
  const saved = process.env.FAKE_ENVOY_VERSION_DELAY_MS;
  t.teardown(() => {
    if (saved === undefined) delete process.env.FAKE_ENVOY_VERSION_DELAY_MS;
    else process.env.FAKE_ENVOY_VERSION_DELAY_MS = saved;
  });
  // Answers after 1.5 s: the first limit (0.3 s) passes, the second (10 s) does not.
  process.env.FAKE_ENVOY_VERSION_DELAY_MS = '1500';
  const retries: number[] = [];
  const v = await readEnvoyVersion(fake, [300, 10_000], (ms) => retries.push(ms));
  t.equal(v.version, '1.30.1');
  t.same(retries, [300], 'one retry, after the first limit');
  // Only one limit: the timeout is the error, and it says so.
  const err = await readEnvoyVersion(fake, [300]).catch((e: Error) => e);
  t.match(String(err), /--version" failed: no answer within 300 ms/);
  // A binary that fails outright is not run again.
  delete process.env.FAKE_ENVOY_VERSION_DELAY_MS;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdp-ver-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const broken = path.join(dir, 'envoy');
  const count = path.join(dir, 'runs');
  fs.writeFileSync(broken, `#!/bin/sh\necho run >> ${count}\nexit 3\n`, { mode: 0o755 });
  const failed = await readEnvoyVersion(broken, [300, 10_000], () => t.fail('no retry for a failing binary')).catch((e: Error) => e);
  t.match(String(failed), /--version" failed: Command failed/);
  t.equal(fs.readFileSync(count, 'utf8'), 'run\n', 'run once');
});
