/**
 * Durability of the SQLite store against a real `kill -9`: a child process writes in a
 * loop and prints each acknowledged transaction; we kill it mid-stream, reopen the file
 * and require an intact database holding every acknowledged write. Power loss cannot
 * be simulated here; SIGKILL proves that nothing acknowledged lives only in the
 * process's memory, and synchronous=FULL covers the OS cache (asserted below).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { WRITER } from './writer-process';
import { SQLITE_FILE_NAME, SqliteStore } from '../../../cp/store/sqlite-store';


function tempDir(t: { teardown(fn: () => unknown): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-crash-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the writer for `ms` after it is ready, SIGKILLs it, returns the acknowledged indexes. */
async function writeThenKill(t: { teardown(fn: () => unknown): void }, dir: string, ms: number): Promise<{ acked: number[]; perSecond: number }> {
  const child = spawn(process.execPath, [WRITER, 'sqlite', 'loop', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  child.kill('SIGKILL');
  await exited;
  const elapsed = (Date.now() - started) / 1000;
  if (child.signalCode !== 'SIGKILL') throw new Error(`writer ended by itself (${child.exitCode}): ${err}`);
  // Only complete lines count: a line cut by the kill was never fully acknowledged.
  const lines = out.split('\n');
  lines.pop();
  const acked = lines.slice(1).map(Number);
  return { acked, perSecond: Math.round(acked.length / elapsed) };
}

t.test('every acknowledged write survives SIGKILL, three times over', async (t) => {
  const dir = tempDir(t);
  let expectedNext = 0;
  for (let round = 1; round <= 3; round++) {
    const { acked, perSecond } = await writeThenKill(t, dir, 1000);
    t.ok(acked.length > 10, `round ${round}: ${acked.length} transactions acknowledged (${perSecond}/s) before SIGKILL`);
    t.equal(acked[0], expectedNext, 'the writer continued after the previous round');
    t.same(acked, acked.map((_, i) => expectedNext + i), 'acknowledgements are consecutive');

    const file = path.join(dir, SQLITE_FILE_NAME);
    const raw = new Database(file);
    t.equal(raw.pragma('integrity_check', { simple: true }), 'ok', 'PRAGMA integrity_check = ok');
    raw.close();

    const store = new SqliteStore({ dir });
    const rows = await store.list('Config');
    const byName = new Map(rows.map((r) => [r.meta.name, r.spec.config]));
    const missing = acked.filter((i) => byName.get(`w-${i}`) !== String(i));
    t.same(missing, [], 'every acknowledged write is present with its value');
    const counter = Number(byName.get('counter'));
    const last = acked[acked.length - 1];
    // At most one transaction may have committed without its acknowledgement being printed.
    t.ok(counter === last || counter === last + 1, `counter ${counter} is the last acknowledged (${last}) or the one after`);
    const blob = String(byName.get('blob'));
    t.equal(blob.slice(0, blob.indexOf(':')), String(counter), 'the multi-page row is from the same transaction as the counter');
    t.equal(blob.length, String(counter).length + 1 + 1000 + ((counter * 7919) % 20000), 'and is complete');
    const written = rows.filter((r) => r.meta.name.startsWith('w-')).length;
    t.equal(written, counter + 1, 'both rows of each transaction or neither: w-0..w-counter all present, nothing more');
    await store.close();
    expectedNext = counter + 1;
  }
});

t.test('the store is opened in WAL mode with synchronous=FULL', async (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore({ dir });
  const raw = new Database(path.join(dir, SQLITE_FILE_NAME));
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal', 'WAL is persistent in the file');
  raw.close();
  // synchronous is per connection: read it through the store's own connection.
  const db = (store as unknown as { db: Database.Database }).db;
  t.equal(db.pragma('synchronous', { simple: true }), 2, 'synchronous = FULL (2)');
  await store.close();
});

t.test('every commit is fsynced: at least one fsync per commit (strace)', async (t) => {
  const probe = spawnSync('strace', ['-V'], { encoding: 'utf8' });
  if (probe.error) {
    t.plan(0, 'strace is not installed (.ci/run installs it)');
    return;
  }
  const dir = tempDir(t);
  const n = 50;
  const log = path.join(dir, 'strace.log');
  // -f: better-sqlite3 runs in the main thread, but follow children anyway; count only sync calls.
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=fsync,fdatasync', '-o', log, process.execPath, WRITER, 'sqlite', 'count', dir, String(n)], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0 && /ptrace|Operation not permitted/.test(r.stderr)) {
    t.plan(0, `strace cannot trace here: ${r.stderr.trim()}`);
    return;
  }
  t.equal(r.status, 0, `writer exited cleanly: ${r.stderr}`);
  const syncs = fs.readFileSync(log, 'utf8').split('\n').filter((l) => /\b(fsync|fdatasync)\(/.test(l)).length;
  t.ok(syncs >= n, `${syncs} fsync/fdatasync calls for ${n} commits`);
});

t.test('close and reopen keeps everything', async (t) => {
  const dir = tempDir(t);
  let store = new SqliteStore({ dir });
  await store.create({ type: 'Mesh', name: 'default', spec: { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } } });
  const tp = await store.create({ type: 'TrafficPermission', mesh: 'default', name: 'all', labels: { 'kuma.io/origin': 'global' }, spec: { sources: [], destinations: [] } });
  await store.create({ type: 'Config', name: 'gone', spec: { config: 'x' } });
  await store.delete('Config', { name: 'gone' });
  const before = { meshes: await store.list('Mesh'), tps: await store.list('TrafficPermission'), configs: await store.list('Config') };
  await store.close();
  await t.rejects(store.get('Mesh', { name: 'default' }), { code: 'ERR_STORE' }, 'a closed store refuses calls');

  store = new SqliteStore({ dir });
  t.same({ meshes: await store.list('Mesh'), tps: await store.list('TrafficPermission'), configs: await store.list('Config') }, before);
  // The version counter continues: an old version never becomes valid again.
  const next = await store.upsert({ type: 'Config', name: 'new', spec: { config: 'y' } });
  t.ok(Number(next.meta.version) > Number(tp.meta.version) + 1, 'versions continue after reopen');
  await t.rejects(
    store.update({ type: 'TrafficPermission', mesh: 'default', name: 'all', spec: {} }, { expectedVersion: '1' }),
    { code: 'ERR_CONFLICT' },
    'optimistic concurrency holds across reopen',
  );
  await store.close();
});
