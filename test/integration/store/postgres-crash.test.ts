/**
 * Durability of the PostgreSQL store against a real `kill -9` of the writer: a child
 * process writes in a loop and prints each acknowledged transaction; we kill it
 * mid-stream and require, from a fresh connection, every acknowledged write and no
 * partial transaction. The server keeps running (as it would when a CP replica dies);
 * a transaction cut off by the kill is rolled back by PostgreSQL when the connection
 * drops, and the write lock it held is released, so the next writer is not blocked.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { WRITER } from './writer-process';
import { PostgresStore, type PostgresStoreConfig } from '../../../cp/store/postgres-store';
import { startPostgres } from './postgres-server';


/**
 * Runs the writer for `ms` after it is ready, then `kill` (default: SIGKILL the writer),
 * and returns the acknowledged indexes once the writer has exited.
 */
async function writeThenKill(
  t: { teardown(fn: () => unknown): void },
  config: PostgresStoreConfig,
  ms: number,
  kill?: () => Promise<void>,
): Promise<{ acked: number[]; perSecond: number }> {
  const child = spawn(process.execPath, [WRITER, 'postgres', 'loop', JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!out.startsWith('ready\n')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`writer did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const started = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  if (kill) {
    await kill();
    // The writer's next write fails (the server is gone) and it exits 1.
    await exited;
    if (child.exitCode !== 1 || !/ERR_STORE|StoreError|PostgreSQL store/.test(err)) throw new Error(`writer should fail with a store error: ${child.exitCode} ${err}`);
  } else {
    child.kill('SIGKILL');
    await exited;
    if (child.signalCode !== 'SIGKILL') throw new Error(`writer ended by itself (${child.exitCode}): ${err}`);
  }
  const elapsed = (Date.now() - started) / 1000;
  // Only complete lines count: a line cut by the kill was never fully acknowledged.
  const lines = out.split('\n');
  lines.pop();
  const acked = lines.slice(1).map(Number);
  return { acked, perSecond: Math.round(acked.length / elapsed) };
}

t.test('every acknowledged write survives SIGKILL of the writer, three times over', async (t) => {
  const pg = await startPostgres(t);
  const config = pg.config(await pg.createDb());
  let expectedNext = 0;
  for (let round = 1; round <= 3; round++) {
    const { acked, perSecond } = await writeThenKill(t, config, 1000);
    t.ok(acked.length > 10, `round ${round}: ${acked.length} transactions acknowledged (${perSecond}/s) before SIGKILL`);
    t.equal(acked[0], expectedNext, 'the writer continued after the previous round');
    t.same(acked, acked.map((_, i) => expectedNext + i), 'acknowledgements are consecutive');

    const store = await PostgresStore.open(config);
    const rows = await store.list('Config');
    const byName = new Map(rows.map((r) => [r.meta.name, r.spec.config]));
    const missing = acked.filter((i) => byName.get(`w-${i}`) !== String(i));
    t.same(missing, [], 'every acknowledged write is present with its value');
    const counter = Number(byName.get('counter'));
    const last = acked[acked.length - 1];
    // At most one transaction may have committed without its acknowledgement being printed.
    t.ok(counter === last || counter === last + 1, `counter ${counter} is the last acknowledged (${last}) or the one after`);
    const blob = String(byName.get('blob'));
    t.equal(blob.slice(0, blob.indexOf(':')), String(counter), 'the large row is from the same transaction as the counter');
    t.equal(blob.length, String(counter).length + 1 + 1000 + ((counter * 7919) % 20000), 'and is complete');
    const written = rows.filter((r) => r.meta.name.startsWith('w-')).length;
    t.equal(written, counter + 1, 'all rows of each transaction or none: w-0..w-counter present, nothing more');
    // The killed writer's lock is gone: a write goes through at once.
    const t0 = Date.now();
    await store.upsert({ type: 'Config', name: 'probe', spec: { config: String(round) } });
    t.ok(Date.now() - t0 < 2000, `a new write is not blocked by the killed writer (${Date.now() - t0} ms)`);
    await store.close();
    expectedNext = counter + 1;
  }
});

t.test('a writer frozen inside a transaction (SIGSTOP) blocks the others only until the server ends its session', async (t) => {
  const pg = await startPostgres(t);
  const db = await pg.createDb();
  const config = { ...pg.config(db), idleInTransactionTimeoutMs: 800 };
  const child = spawn(process.execPath, [WRITER, 'postgres', 'loop', JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const deadline = Date.now() + 10_000;
  while (!/\n\d+\n/.test(out)) {
    if (Date.now() > deadline) throw new Error('writer did not start writing');
    await new Promise((r) => setTimeout(r, 10));
  }
  // Freeze it until we catch it between BEGIN and COMMIT (it spends most of its time there).
  let inTx = false;
  for (let attempt = 0; attempt < 50 && !inTx; attempt++) {
    child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 20));
    // Past BEGIN, the first statement took the lock (pg_stat_activity.query is the last one sent).
    const r = await pg.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state = 'idle in transaction' AND query <> 'BEGIN'", [db]);
    inTx = r.rows[0].n === 1;
    if (!inTx) child.kill('SIGCONT');
  }
  t.ok(inTx, 'the writer is frozen inside a transaction, holding the write lock');
  const store = await PostgresStore.open(pg.config(db));
  t.teardown(() => store.close());
  const t0 = Date.now();
  await store.upsert({ type: 'Config', name: 'other-replica', spec: { config: 'x' } });
  const waited = Date.now() - t0;
  t.ok(waited >= 300 && waited < 5000, `another writer got through after ${waited} ms (idle-in-transaction timeout 800 ms)`);
  child.kill('SIGKILL');
});

t.test('every acknowledged write survives an immediate shutdown (crash) of the server', async (t) => {
  const pg = await startPostgres(t);
  const config = pg.config(await pg.createDb());
  const { acked } = await writeThenKill(t, config, 800, () => pg.crash());
  t.ok(acked.length > 10, `${acked.length} transactions acknowledged before the server went down`);
  await pg.restart(); // runs crash recovery from the WAL
  const store = await PostgresStore.open(config);
  t.teardown(() => store.close());
  const rows = await store.list('Config');
  const byName = new Map(rows.map((r) => [r.meta.name, r.spec.config]));
  t.same(acked.filter((i) => byName.get(`w-${i}`) !== String(i)), [], 'every acknowledged write is present after crash recovery');
  const counter = Number(byName.get('counter'));
  t.ok(counter === acked[acked.length - 1] || counter === acked[acked.length - 1] + 1, 'nothing acknowledged is missing, at most one unacknowledged commit');
  t.equal(rows.filter((r) => r.meta.name.startsWith('w-')).length, counter + 1, 'no partial transaction');
});
