/**
 * kuma-cp on PostgreSQL as a user runs it: a throw-away PostgreSQL server, kuma-cp with
 * KUMA_STORE_TYPE=postgres and Kuma's KUMA_STORE_POSTGRES_* variables, kumactl apply and
 * get; a second replica on the same database serves the same resources and its writes
 * are seen by the first, whose VIP allocator and DNS server react to them (NOTIFY); a
 * restarted CP keeps everything. Bad settings exit 64 naming
 * the variable; an unreachable database exits 1 naming it, never the password.
 */
import dns from 'node:dns/promises';
import path from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { freePort } from '../../../lib/free-port';
import { CP, cpEnv, example, KUMACTL, kumactl, run, snapshot, startCp, tempDirs } from '../kumactl/cp-process';
import { PG_PASSWORD, startPostgres } from '../../integration/store/postgres-server';

const { tmp } = tempDirs(t);
// Server start, four CP starts and some twenty kumactl processes on a busy 2-core machine.
t.setTimeout(120_000);

t.test('kuma-cp with KUMA_STORE_TYPE=postgres: apply, get, second replica, restart', async (t) => {
  const pg = await startPostgres(t);
  const db = await pg.createDb('kuma');
  const pgEnv = {
    KUMA_STORE_TYPE: 'postgres',
    KUMA_STORE_POSTGRES_HOST: pg.host,
    KUMA_STORE_POSTGRES_PORT: String(pg.port),
    KUMA_STORE_POSTGRES_USER: 'kuma',
    KUMA_STORE_POSTGRES_PASSWORD: PG_PASSWORD,
    KUMA_STORE_POSTGRES_DB_NAME: db,
  };
  let { cp, address } = await startCp(t, pgEnv);
  const opened = cp.log.find((l) => l.msg === 'postgres store opened');
  t.match(opened, { target: `kuma@127.0.0.1:${pg.port}/${db}` }, 'the CP logs which database it uses');

  for (const f of ['mesh.yaml', 'dataplane.yaml', 'traffic-route.yaml', 'traffic-permission.yaml', 'zone-ingress.yaml']) {
    const r = await kumactl(address, 'apply', '-f', example(f));
    t.equal(r.code, 0, `apply ${f}: ${r.stderr}`);
  }
  const meshes = YAML.parse((await kumactl(address, 'get', 'meshes', '-o', 'yaml')).stdout);
  t.same(meshes.items.map((m: any) => m.name), ['default']);
  t.equal(meshes.items[0].mtls.enabledBackend, 'ca-1');
  const dp = YAML.parse((await kumactl(address, 'get', 'dataplane', 'web-1', '-o', 'yaml')).stdout);
  t.equal(dp.networking.inbound[0].tags['kuma.io/service'], 'web');
  const rows = await pg.sql("SELECT type, name FROM resources WHERE type IN ('Mesh', 'Dataplane') ORDER BY type, name", [], db);
  t.same(rows.rows, [{ type: 'Dataplane', name: 'web-1' }, { type: 'Mesh', name: 'default' }], 'the resources are rows in PostgreSQL');
  const secrets = await kumactl(address, 'get', 'secrets', '-m', 'default');
  t.match(secrets.stdout, /default\.ca-builtin-cert-ca-1/, 'the mesh CA was created and stored');

  // A second replica: its own work dir, the same database.
  const b = await startCp(t, { ...pgEnv, KUMA_GENERAL_WORK_DIR: path.join(tmp, 'work-b') });
  t.equal(await snapshot(b.address), await snapshot(address), 'replica B serves exactly what A serves');
  const viaB = await run(KUMACTL, ['--cp-address', b.address, 'apply', '-f', '-'], {
    input: 'type: TrafficPermission\nmesh: default\nname: from-b\nsources:\n  - match:\n      kuma.io/service: "*"\ndestinations:\n  - match:\n      kuma.io/service: web\n',
  });
  t.equal(viaB.code, 0, viaB.stderr);
  const onA = await kumactl(address, 'get', 'traffic-permission', 'from-b', '-m', 'default', '-o', 'json');
  t.equal(onA.code, 0, 'a write through B is served by A');
  t.equal(JSON.parse(onA.stdout).name, 'from-b');

  // A Dataplane written through B: A hears it through NOTIFY (its VIP allocator only reacts
  // to store events) and its DNS server answers for the new service with the VIP both share.
  const dpB = await run(KUMACTL, ['--cp-address', b.address, 'apply', '-f', '-'], {
    input: 'type: Dataplane\nmesh: default\nname: from-b-dp\nnetworking:\n  address: 127.0.0.1\n  inbound:\n    - port: 9001\n      tags:\n        kuma.io/service: from-b-svc\n',
  });
  t.equal(dpB.code, 0, dpB.stderr);
  const resolveOn = async (cpProc: typeof cp): Promise<string[]> => {
    const r = new dns.Resolver({ timeout: 500, tries: 1 });
    r.setServers([`127.0.0.1:${await cpProc.waitForPort('DNS server listening')}`]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        return await r.resolve4('from-b-svc.mesh');
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((res) => setTimeout(res, 50));
      }
    }
  };
  const vipOnA = await resolveOn(cp);
  t.equal(vipOnA.length, 1, `A resolves from-b-svc.mesh to ${vipOnA}`);
  t.same(await resolveOn(b.cp), vipOnA, 'B gives the same VIP (one allocation in the shared store)');
  t.ok(cp.log.some((l) => l.msg === 'VIP table changed' && l.mesh === 'default'), "A's VIP table changed on B's write");

  // Restart A: everything is still there.
  const before = await snapshot(address);
  await cp.stop();
  t.equal(cp.exit?.code, 0, 'SIGTERM stops kuma-cp with exit code 0');
  ({ cp, address } = await startCp(t, pgEnv));
  t.equal(await snapshot(address), before, 'the restarted CP serves the same resources');
  t.equal(await snapshot(b.address), before, 'and so does B, which kept running');
  const all = JSON.stringify([...cp.log, ...b.cp.log]);
  t.notOk(all.includes(PG_PASSWORD), 'the password appears in no log line');
  await b.cp.stop();
});

t.test('bad store settings: exit 64 naming the variable; unreachable database: exit 1 naming it', async (t) => {
  const bad = await run(CP, ['run'], { env: cpEnv({ KUMA_STORE_TYPE: 'postgres', KUMA_STORE_POSTGRES_TLS_MODE: 'verify-full' }) });
  t.equal(bad.code, 64, bad.stderr);
  t.match(bad.stderr, /KUMA_STORE_POSTGRES_TLS_MODE="verify-full": must be one of disable, verifyNone, verifyCa, verifyFull/);
  const port = await freePort();
  const down = await run(CP, ['run'], {
    env: cpEnv({ KUMA_STORE_TYPE: 'postgres', KUMA_STORE_POSTGRES_PORT: String(port), KUMA_STORE_POSTGRES_PASSWORD: 'hunter2-secret', KUMA_STORE_POSTGRES_DB_NAME: 'meshdb' }),
  });
  t.equal(down.code, 1, down.stderr);
  t.match(down.stderr, new RegExp(`PostgreSQL store kuma@127\\.0\\.0\\.1:${port}/meshdb cannot open: .*ECONNREFUSED`));
  t.notOk(down.stderr.includes('hunter2-secret'), 'no password in the error');
  t.notMatch(down.stderr, /\n\s+at /, 'no stack trace');
});
