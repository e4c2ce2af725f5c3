/**
 * PostgreSQL-specific behaviour, on a throw-away server this file starts: two processes
 * racing on one expectedVersion, watch across two instances (LISTEN/NOTIFY), the LISTEN
 * connection lost and re-opened, server down and back, bad credentials, schema
 * versioning, replicas migrating at once, configuration keys and the store factory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { racer, raceRounds } from './writer-process';
import type { Resource } from '../../../api/resource';
import { loadConfig, unknownConfigKeys } from '../../../cp/config/config';
import { createStore } from '../../../cp/store/index';
import { POSTGRES_APP_NAME, POSTGRES_SCHEMA_VERSION, PostgresStore, postgresClientConfig } from '../../../cp/store/postgres-store';
import type { StoreEvent } from '../../../cp/store/store';
import { PG_PASSWORD, postgresBinDir, startPostgres } from './postgres-server';

type Teardown = { teardown(fn: () => unknown): void };

/** A pino logger whose lines land in `lines` (parsed). */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const summary = (evs: StoreEvent[]) => evs.map((e) => `${e.kind} ${e.resource.meta.type} ${e.resource.meta.name} ${e.resource.meta.version}`);

t.test('postgres store', async (t) => {
  const pg = await startPostgres(t);
  const open = async (t: Teardown, db: string, extra: Partial<Parameters<typeof PostgresStore.open>[0]> = {}) => {
    const s = await PostgresStore.open({ ...pg.config(db), ...extra });
    t.teardown(() => s.close());
    return s;
  };

  t.test('two processes updating with the same expectedVersion: exactly one wins, every time', async (t) => {
    const db = await pg.createDb();
    const store = await open(t, db);
    const [a, b] = await Promise.all([racer(t, 'postgres', JSON.stringify(pg.config(db))), racer(t, 'postgres', JSON.stringify(pg.config(db)))]);
    await raceRounds(t, store, a, b, 25);
  });

  t.test('a write on one instance reaches the watchers of another (LISTEN/NOTIFY)', async (t) => {
    const db = await pg.createDb();
    const a = await open(t, db);
    const b = await open(t, db);
    t.not(a.instanceId, b.instanceId);
    const seenA: StoreEvent[] = [];
    const seenB: StoreEvent[] = [];
    a.watch((ev) => seenA.push(ev));
    b.watch((ev) => seenB.push(ev));

    const spec = { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } };
    const c = await a.create({ type: 'Mesh', name: 'm', spec, labels: { team: 'x' } });
    const started = Date.now();
    await until('B hears the create', () => seenB.length === 1);
    const latency = Date.now() - started;
    const u = await a.update({ type: 'Mesh', name: 'm', spec: {} });
    await a.delete('Mesh', { name: 'm' });
    const z = await b.create({ type: 'Zone', name: 'z', spec: { enabled: true } });
    // Remote events arrive asynchronously: wait, so that the order below is deterministic.
    await until('A hears B', () => seenA.length === 4);
    // One transaction writing a key twice: small resources ride in the notification, so
    // other instances hear both events, as local watchers do.
    const tx = await a.transaction([
      { op: 'create', input: { type: 'Zone', name: 'tx', spec: { enabled: true } } },
      { op: 'update', input: { type: 'Zone', name: 'tx', spec: { enabled: false } } },
    ]);
    await until('every event on both sides', () => seenA.length === 6 && seenB.length === 6).catch((e) => {
      throw new Error(`${e.message}: A heard ${JSON.stringify(summary(seenA))}, B heard ${JSON.stringify(summary(seenB))}`);
    });
    await new Promise((r) => setTimeout(r, 200)); // and nothing more arrives
    const v = (r: Resource) => r.meta.version;
    t.same(summary(seenB), [`create Mesh m ${v(c)}`, `update Mesh m ${v(u)}`, `delete Mesh m ${v(u)}`, `create Zone z ${v(z)}`, `create Zone tx ${v(tx[0])}`, `update Zone tx ${v(tx[1])}`], 'B heard every event of A, and its own write once');
    t.same(seenB[0].resource, c, 'a create arrives with the whole resource');
    t.same(seenB[1].resource, u);
    t.same(seenB[2].resource, u, 'a delete arrives with the resource as it was');
    t.same(seenB[4].resource, tx[0], 'the intermediate state of the transaction too');
    t.same(summary(seenA), [
      `create Mesh m ${v(c)}`,
      `update Mesh m ${v(u)}`,
      `delete Mesh m ${v(u)}`,
      `create Zone z ${v(z)}`,
      `create Zone tx ${v(tx[0])}`,
      `update Zone tx ${v(tx[1])}`,
    ]);
    t.same(seenA[3].resource, z, "A heard B's write with its spec");
    t.same(seenA[2].resource.spec, {}, 'local delete events carry the deleted resource');
    t.comment(`cross-instance delivery latency: ${latency} ms`);
    // A resource too big for a notification is fetched by the receiver instead.
    const big = await a.create({ type: 'Config', name: 'big', spec: { config: 'x'.repeat(9000) } });
    await until('B hears the big create', () => seenB.length === 7);
    t.same(seenB[6], { kind: 'create', resource: big }, 'a big resource arrives whole, fetched');
    await a.delete('Config', { name: 'big' });
    await until('B hears the big delete', () => seenB.length === 8);
    t.same(seenB[7].resource, { meta: { type: 'Config', name: 'big', version: v(big), creationTime: big.meta.creationTime, modificationTime: big.meta.modificationTime }, spec: {} }, "a big resource's delete arrives meta-only");
  });

  t.test('a lost LISTEN connection is re-opened and what was missed is re-delivered', async (t) => {
    const db = await pg.createDb();
    const la = capturingLogger();
    const lb = capturingLogger();
    const a = await open(t, db, { logger: la.logger, reconnectMs: { initial: 400, max: 400 } });
    const b = await open(t, db, { logger: lb.logger, reconnectMs: { initial: 400, max: 400 } });
    const seenA: StoreEvent[] = [];
    const seenB: StoreEvent[] = [];
    a.watch((ev) => seenA.push(ev));
    b.watch((ev) => seenB.push(ev));
    await a.create({ type: 'Zone', name: 'doomed', spec: {} });
    await until('B hears the first write', () => seenB.length === 1);

    const killed = await pg.sql('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND datname = $2', [POSTGRES_APP_NAME.listen, db]);
    t.equal(killed.rowCount, 2, 'both LISTEN connections terminated');
    const lost = (l: typeof la) => l.lines.some((x) => /LISTEN connection lost/.test(x.msg));
    await until('both notice the loss', () => lost(la) && lost(lb));
    // Written while nobody listens (reconnect waits 200..400 ms).
    const gap = await a.create({ type: 'Zone', name: 'during-gap', spec: { n: 1 } });
    await a.delete('Zone', { name: 'doomed' });
    const back = (l: typeof la) => l.lines.find((x) => /LISTEN reconnected/.test(x.msg));
    await until('both reconnect', () => Boolean(back(la) && back(lb)));
    t.equal(back(lb)!.level, 40, 'the reconnect is a warning');
    t.match(back(lb)!.msg, /deletes made meanwhile were missed/, 'it says what may be lost');
    t.equal(back(lb)!.redelivered, 1);
    t.equal(back(la)!.redelivered, 0, "A's own write is not re-delivered to A");
    await until('B hears the gap write', () => seenB.length === 2);
    t.same(summary(seenB), [`create Zone doomed ${seenA[0].resource.meta.version}`, `update Zone during-gap ${gap.meta.version}`], 'the missed create arrives as an update; the missed delete is lost');
    t.same(seenB[1].resource, gap);
    // And live delivery works again.
    await a.update({ type: 'Zone', name: 'during-gap', spec: { n: 2 } });
    await until('B hears live writes again', () => seenB.length === 3);
    t.same(seenB[2].resource.spec, { n: 2 });
    t.equal(seenA.length, 4, 'A heard its own three writes once each');
  });

  t.test('schema version is recorded, replicas migrate at once safely, a newer schema is refused', async (t) => {
    const db = await pg.createDb();
    const stores = await Promise.all([0, 1, 2].map(() => PostgresStore.open(pg.config(db))));
    await Promise.all(stores.map((s) => s.close()));
    const rows = await pg.sql('SELECT version FROM schema_version', [], db);
    t.same(rows.rows, [{ version: POSTGRES_SCHEMA_VERSION }], 'one row, the current version');
    const s = await open(t, db);
    await s.create({ type: 'Zone', name: 'kept', spec: {} });
    await s.close();
    const again = await open(t, db);
    t.equal((await again.list('Zone')).length, 1, 'reopening does not re-run migrations');
    await again.close();
    await pg.sql('UPDATE schema_version SET version = $1', [POSTGRES_SCHEMA_VERSION + 1], db);
    await t.rejects(PostgresStore.open(pg.config(db)), {
      code: 'ERR_STORE',
      message: new RegExp(`/${db} has schema version ${POSTGRES_SCHEMA_VERSION + 1}, newer than this kuma-cp understands \\(${POSTGRES_SCHEMA_VERSION}\\); upgrade kuma-cp`),
    });
  });

  t.test('bad credentials and a missing database give errors naming the target, never the password', async (t) => {
    const db = await pg.createDb();
    const wrong = 'not-the-password-42';
    const err = await PostgresStore.open({ ...pg.config(db), password: wrong }).catch((e) => e);
    t.equal(err.code, 'ERR_STORE');
    t.match(err.message, new RegExp(`PostgreSQL store kuma@127\\.0\\.0\\.1:${pg.port}/${db} cannot open: password authentication failed for user "kuma"`));
    t.notOk(err.message.includes(wrong), 'the password is not in the message');
    const missing = await PostgresStore.open(pg.config('no_such_db')).catch((e) => e);
    t.match(missing, { code: 'ERR_STORE', message: /no_such_db cannot open: database "no_such_db" does not exist/ });
    t.notOk(missing.message.includes(PG_PASSWORD));
  });

  t.test('createStore opens postgres; TLS files that cannot be read are named', async (t) => {
    const db = await pg.createDb();
    const s = await createStore({ type: 'postgres', postgres: pg.config(db) });
    t.teardown(() => s.close());
    t.ok(s instanceof PostgresStore);
    t.throws(() => postgresClientConfig({ ...pg.config(db), tls: { mode: 'verifyFull', caPath: '/nonexistent/ca.pem' } }, 'x'), {
      code: 'ERR_STORE',
      message: /cannot read TLS CA \(KUMA_STORE_POSTGRES_TLS_CA_PATH\) \/nonexistent\/ca\.pem/,
    });
    const verifyCa = postgresClientConfig({ ...pg.config(db), tls: { mode: 'verifyCa' } }, 'x').ssl as { rejectUnauthorized: boolean; checkServerIdentity?: unknown };
    t.equal(verifyCa.rejectUnauthorized, true, 'verifyCa checks the chain');
    t.type(verifyCa.checkServerIdentity, 'function', 'but not the host name');
    t.equal((postgresClientConfig({ ...pg.config(db), tls: { mode: 'verifyNone' } }, 'x').ssl as { rejectUnauthorized: boolean }).rejectUnauthorized, false);
  });

  t.test('a writer that cannot get the write lock in time gets a clear error, and nothing is written', async (t) => {
    const db = await pg.createDb();
    const s = await open(t, db, { lockTimeoutMs: 300 });
    const holder = new (await import('pg')).default.Client({ host: pg.host, port: pg.port, user: 'kuma', password: PG_PASSWORD, database: db });
    await holder.connect();
    t.teardown(() => holder.end());
    await holder.query('BEGIN');
    await holder.query("SELECT value FROM store_meta WHERE key = 'last_version' FOR UPDATE");
    const t0 = Date.now();
    const err = await s.create({ type: 'Zone', name: 'blocked', spec: {} }).catch((e) => e);
    t.match(err, { code: 'ERR_STORE', message: /\(55P03\) \(another writer held the write lock too long\)$/ });
    t.ok(Date.now() - t0 < 3000, `failed after ${Date.now() - t0} ms (lock timeout 300 ms)`);
    await holder.query('COMMIT');
    t.equal(await s.get('Zone', { name: 'blocked' }), undefined);
    await s.create({ type: 'Zone', name: 'blocked', spec: {} });
    t.ok(await s.get('Zone', { name: 'blocked' }), 'once the lock is free, the write goes through');
  });

  t.test('without PostgreSQL binaries the tests fail saying what to install', async (t) => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-no-pg-'));
    t.teardown(() => fs.rmSync(empty, { recursive: true, force: true }));
    t.throws(() => postgresBinDir(empty), { message: /PostgreSQL server binaries not found .*install them with "apt-get install -y postgresql"/ });
    t.match(postgresBinDir(), /\/usr\/lib\/postgresql\/\d+\/bin$/, 'the installed ones are found');
  });

  t.test('a name too long for a change notification is refused and nothing is written', async (t) => {
    const s = await open(t, await pg.createDb());
    const name = 'n'.repeat(8000);
    await t.rejects(s.create({ type: 'Config', name, spec: {} }), { code: 'ERR_STORE', message: /too long for a change notification \(\d+ bytes, at most 7999\)/ });
    t.same(await s.list('Config'), []);
    await s.create({ type: 'Config', name: 'n'.repeat(253), spec: {} });
    t.equal((await s.list('Config')).length, 1, "Kuma's longest names fit");
  });

  t.test('configuration: Kuma keys and variables, bad values named', async (t) => {
    const HOME = { HOME: '/home/u' };
    const d = loadConfig(HOME).store.postgres;
    t.same(d, { host: '127.0.0.1', port: 5432, user: 'kuma', password: 'kuma', dbName: 'kuma', connectionTimeout: 5, maxOpenConnections: 50, tls: { mode: 'disable' } });
    const file = 'store:\n  type: postgres\n  postgres:\n    host: db.local\n    port: 15432\n    password: 1234\n    dbName: mesh\n    maxOpenConnections: 0\n    tls:\n      mode: verifyCa\n      caPath: /ca.pem\n';
    const c = loadConfig({ ...HOME, KUMA_STORE_POSTGRES_USER: 'cp', KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT: '9', KUMA_STORE_POSTGRES_TLS_MODE: 'verifyFull' }, file);
    t.equal(c.store.type, 'postgres');
    t.same(c.store.postgres, { host: 'db.local', port: 15432, user: 'cp', password: '1234', dbName: 'mesh', connectionTimeout: 9, maxOpenConnections: 0, tls: { mode: 'verifyFull', caPath: '/ca.pem' } });
    t.throws(() => loadConfig({ ...HOME, KUMA_STORE_POSTGRES_PORT: '0' }), { code: 'ERR_USAGE', message: 'KUMA_STORE_POSTGRES_PORT="0": must be an integer port in 1..65535' });
    t.throws(() => loadConfig({ ...HOME, KUMA_STORE_POSTGRES_TLS_MODE: 'verify-full' }), {
      message: 'KUMA_STORE_POSTGRES_TLS_MODE="verify-full": must be one of disable, verifyNone, verifyCa, verifyFull',
    });
    t.throws(() => loadConfig({ ...HOME, KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT: '5s' }), { message: /KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT="5s": must be a whole number of at least 1/ });
    t.throws(() => loadConfig({ ...HOME, KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS: '-1' }), { message: /MAX_OPEN_CONNECTIONS="-1": must be a whole number \(0 = unlimited\)/ });
    t.throws(() => loadConfig({ ...HOME, KUMA_STORE_POSTGRES_TLS_CERT_PATH: '/c.pem' }), { message: /KUMA_STORE_POSTGRES_TLS_CERT_PATH and KUMA_STORE_POSTGRES_TLS_KEY_PATH must be set together/ });
    t.same(unknownConfigKeys('store:\n  postgres:\n    host: x\n    bogus: 1\n    tls:\n      mode: disable\n      sslSni: true\n'), ['store.postgres.bogus', 'store.postgres.tls.sslSni'], 'unknown keys under store.postgres are reported, known ones are not');
    const hidden = t.throws(() => loadConfig(HOME, 'store:\n  postgres:\n    password: [s3cret]\n'), { message: 'config file key store.postgres.password: (value hidden) must be a string' });
    t.notOk(String((hidden as unknown as Error)?.message ?? '').includes('s3cret'));
  });

  // Last: it stops the server.
  t.test('server down: calls fail naming the target; once it is back, later calls reconnect', async (t) => {
    const db = await pg.createDb();
    const { logger, lines } = capturingLogger();
    const s = await open(t, db, { logger, reconnectMs: { initial: 100, max: 300 } });
    const seen: StoreEvent[] = [];
    s.watch((ev) => seen.push(ev));
    await s.create({ type: 'Zone', name: 'before', spec: {} });
    await pg.stop();
    const target = new RegExp(`^PostgreSQL store kuma@127\\.0\\.0\\.1:${pg.port}/${db}: .*\\(the database is unreachable; later calls reconnect\\)$`);
    const readErr = await s.get('Zone', { name: 'before' }).catch((e) => e);
    t.match(readErr, { code: 'ERR_STORE', message: target });
    const writeErr = await s.create({ type: 'Zone', name: 'while-down', spec: {} }).catch((e) => e);
    t.match(writeErr, { code: 'ERR_STORE', message: target });
    t.notOk(`${readErr.message} ${writeErr.message}`.includes(PG_PASSWORD), 'no password in errors');
    await until('the LISTEN loss is logged', () => lines.some((l) => /LISTEN connection lost/.test(l.msg)));

    await pg.restart();
    t.equal((await s.get('Zone', { name: 'before' }))?.meta.name, 'before', 'reads reconnect');
    await s.create({ type: 'Zone', name: 'after', spec: {} });
    t.same((await s.list('Zone')).map((r) => r.meta.name), ['after', 'before'], 'the failed write left nothing behind');
    await until('LISTEN is back', () => lines.some((l) => /LISTEN reconnected/.test(l.msg)), 15_000);
    t.same(summary(seen).map((x) => x.split(' ').slice(0, 3).join(' ')), ['create Zone before', 'create Zone after'], 'local watchers heard exactly the committed writes');
  });
});
