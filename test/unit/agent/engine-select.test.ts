import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { selectEngine, createEngine, EngineUnavailableError } from '../../../agent/engine/select';
import { defaultDiscoveryDeps } from '../../../agent/envoy/discovery';
import { EnvoyEngine } from '../../../agent/envoy/envoy-engine';
import { silentLogger } from '../../../lib/logger';
import type { EngineOptions } from '../../../agent/engine/engine';

const FAKE_ENVOY_DIR = path.resolve(__dirname, '../../../../test/fixtures/fake-envoy');
const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'kdp-sel-'));
t.teardown(() => fs.rmSync(empty, { recursive: true, force: true }));
const nothing = { ...defaultDiscoveryDeps(), env: { PATH: path.join(empty, 'bin') }, home: empty, cwd: empty };
const withEnvoy = { ...nothing, env: { PATH: FAKE_ENVOY_DIR } };

class FakeEmbedded extends EventEmitter {
  readonly kind = 'embedded' as const;
  readonly name = 'embedded';
  constructor(readonly opts: EngineOptions) {
    super();
  }
  async start() {}
  async close() {}
  destroy() {}
  isReady() {
    return true;
  }
  async drain() {}
  async metrics() {
    return '';
  }
}
const present = () => FakeEmbedded as any;
const missing = () => undefined;
const log = silentLogger();

t.test('auto picks Envoy when found and reads its version', async (t) => {
  const c = await selectEngine({ engine: 'auto', log, discovery: withEnvoy, embedded: missing });
  t.equal(c.kind, 'envoy');
  if (c.kind === 'envoy') {
    t.equal(c.binaryPath, path.join(FAKE_ENVOY_DIR, 'envoy'));
    t.equal(c.version.version, '1.30.1');
    t.match(c.reason, /PATH/);
  }
});

t.test('auto falls back to the embedded engine and says why', async (t) => {
  const c = await selectEngine({ engine: 'auto', log, discovery: nothing, embedded: present });
  t.equal(c.kind, 'embedded');
  t.match(c.reason, /no Envoy binary found \(searched: .*envoy-version/);
  const e = createEngine(c, { bootstrap: {}, bootstrapPath: 'b', workDir: 'w', drainTimeMs: 1, logLevel: 'info', extraArgs: [], log }, { restartPolicy: 'never', stopTimeoutMs: 1 }, present);
  t.equal(e.kind, 'embedded');
});

t.test('errors', async (t) => {
  const err1 = await selectEngine({ engine: 'envoy', log, discovery: nothing, embedded: present }).catch((e) => e);
  t.ok(err1 instanceof EngineUnavailableError);
  t.equal(err1.code, 'ERR_ENGINE_UNAVAILABLE');
  t.match(err1.message, /--engine=envoy: no Envoy binary found; searched: .*bin\/envoy/);
  const err2 = await selectEngine({ engine: 'embedded', log, discovery: withEnvoy, embedded: missing }).catch((e) => e);
  t.match(err2.message, /embedded engine not available/);
  const err3 = await selectEngine({ engine: 'auto', log, discovery: nothing, embedded: missing }).catch((e) => e);
  t.match(err3.message, /no Envoy binary found.*and the embedded engine is not available/);
  const err4 = await selectEngine({ engine: 'auto', binaryPath: '/nope/envoy', log, discovery: withEnvoy, embedded: present }).catch((e) => e);
  t.match(err4.message, /--binary-path=\/nope\/envoy: no executable Envoy there; searched: \/nope\/envoy/, 'an explicit --binary-path never falls back');
});

t.test('envoy choice builds an EnvoyEngine', async (t) => {
  const c = await selectEngine({ engine: 'envoy', log, discovery: withEnvoy, embedded: missing });
  const e = createEngine(c, { bootstrap: {}, bootstrapPath: 'b', workDir: 'w', drainTimeMs: 1, logLevel: 'info', extraArgs: [], log }, { restartPolicy: 'never', stopTimeoutMs: 1 });
  t.ok(e instanceof EnvoyEngine);
});
