/**
 * kuma-cp and kumactl usage errors (exit 64 with the variable, the value and what is
 * valid), the config file with env precedence, and a port clash (exit 1).
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { ManagedProcess } from '../../../scripts/harness/managed-process';
import { CP, cpEnv, kumactl, KUMACTL, run, tempDirs } from './cp-process';

const { tmp } = tempDirs(t);

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

t.test('inspect zones on a global CP', async (t) => {
  const cp = new ManagedProcess({
    name: 'kuma-cp global',
    command: process.execPath,
    args: [CP, 'run'],
    env: cpEnv({ KUMA_MODE: 'global', KUMA_STORE_TYPE: 'memory', KUMA_GENERAL_WORK_DIR: path.join(tmp, 'global') }),
  });
  t.teardown(() => cp.stop(2000));
  await cp.start();
  const address = `http://127.0.0.1:${await cp.waitForPort('API server listening', 20_000)}`;
  const zoneFile = path.join(tmp, 'zone.yaml');
  fs.writeFileSync(zoneFile, 'type: Zone\nname: zone-1\n');
  const applied = await kumactl(address, 'apply', '-f', zoneFile);
  t.equal(applied.code, 0, applied.stderr);
  const zones = await kumactl(address, 'inspect', 'zones');
  t.equal(zones.code, 0, zones.stderr);
  t.match(zones.stdout, /^NAME\s+STATUS\s+LAST CONNECTED AGO\nzone-1\s+Offline\s+never\n$/, 'a zone that never connected is offline');
  const dp = await run(KUMACTL, ['--cp-address', address, 'apply', '-f', '-'], {
    input: 'type: Dataplane\nmesh: default\nname: dp-1\nnetworking:\n  address: 127.0.0.1\n  inbound:\n    - port: 8080\n      tags:\n        kuma.io/service: web\n',
  });
  t.equal(dp.code, 1, 'global refuses dataplanes');
  t.match(dp.stderr, /document\[0\]\.type: a global control plane does not accept Dataplane resources/);
});
