/**
 * SQLite-specific behaviour: several processes on one file, corrupt or foreign files,
 * schema versioning, file permissions, and the store factory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { racer, raceRounds } from './writer-process';
import { createStore } from '../../../cp/store/index';
import { MemoryStore } from '../../../cp/store/memory-store';
import { SQLITE_FILE_NAME, SQLITE_SCHEMA_VERSION, SqliteStore } from '../../../cp/store/sqlite-store';


function tempDir(t: { teardown(fn: () => unknown): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-sqlite-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('two processes updating with the same expectedVersion: exactly one wins, every time', async (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore({ dir });
  t.teardown(() => store.close());
  const [a, b] = await Promise.all([racer(t, 'sqlite', dir), racer(t, 'sqlite', dir)]);
  await raceRounds(t, store, a, b, 30);
});

t.test('watchers are called after COMMIT: another connection already sees the write', async (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore({ dir });
  t.teardown(() => store.close());
  // A second connection sees only committed data (WAL snapshot isolation), unlike the
  // store's own connection, which would see its uncommitted writes too.
  const other = new Database(path.join(dir, SQLITE_FILE_NAME), { readonly: true });
  t.teardown(() => other.close());
  const read = other.prepare('SELECT version FROM resources WHERE type = ? AND mesh = ? AND name = ?');
  const seen: Array<{ kind: string; event: string; committed: string | undefined }> = [];
  store.watch((ev) => {
    const row = read.get(ev.resource.meta.type, ev.resource.meta.mesh ?? '', ev.resource.meta.name) as { version: number } | undefined;
    seen.push({ kind: ev.kind, event: ev.resource.meta.version, committed: row ? String(row.version) : undefined });
  });
  const a = await store.create({ type: 'Zone', name: 'z1', spec: {} });
  const b = await store.update({ type: 'Zone', name: 'z1', spec: { enabled: false } });
  await store.transaction([
    { op: 'create', input: { type: 'Zone', name: 'z2', spec: {} } },
    { op: 'delete', type: 'Zone', key: { name: 'z1' } },
  ]);
  t.same(seen, [
    { kind: 'create', event: a.meta.version, committed: a.meta.version },
    { kind: 'update', event: b.meta.version, committed: b.meta.version },
    { kind: 'create', event: String(Number(b.meta.version) + 1), committed: String(Number(b.meta.version) + 1) },
    { kind: 'delete', event: b.meta.version, committed: undefined },
  ]);
});

t.test('a file that is not a database gives a clear error naming it', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, SQLITE_FILE_NAME);
  fs.writeFileSync(file, 'this is not a database, just some text that is long enough '.repeat(100));
  t.throws(() => new SqliteStore({ dir }), { code: 'ERR_STORE', message: new RegExp(`cannot open SQLite store ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*not a database`) });
  t.equal(fs.readFileSync(file, 'utf8').slice(0, 12), 'this is not ', 'the file is left as it was');
});

t.test('a database with damaged pages is refused on open', async (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore({ dir });
  for (let i = 0; i < 200; i++) await store.create({ type: 'Config', name: `c-${i}`, spec: { config: 'x'.repeat(500) } });
  await store.close();
  const file = path.join(dir, SQLITE_FILE_NAME);
  // Overwrite the middle of the file (b-tree pages) with garbage, keeping the header.
  const fd = fs.openSync(file, 'r+');
  const size = fs.fstatSync(fd).size;
  fs.writeSync(fd, Buffer.alloc(8192, 0xa5), 0, 8192, Math.floor(size / 2 / 4096) * 4096);
  fs.closeSync(fd);
  t.throws(() => new SqliteStore({ dir, fullCheckOnOpen: true }), { code: 'ERR_STORE', message: /kuma\.db.*(check failed|malformed|corrupt)/ });
});

t.test('schema version is recorded and a newer schema is refused', async (t) => {
  const dir = tempDir(t);
  await (new SqliteStore({ dir })).close();
  const raw = new Database(path.join(dir, SQLITE_FILE_NAME));
  t.equal(raw.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION);
  t.ok(SQLITE_SCHEMA_VERSION >= 1);
  raw.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
  raw.close();
  t.throws(() => new SqliteStore({ dir }), { code: 'ERR_STORE', message: /schema version 2, newer than this kuma-cp understands \(1\)/ });
  // Reopening an up-to-date file does not re-run migrations.
  const dir2 = tempDir(t);
  const s1 = new SqliteStore({ dir: dir2 });
  await s1.create({ type: 'Zone', name: 'z', spec: {} });
  await s1.close();
  const s2 = new SqliteStore({ dir: dir2 });
  t.equal((await s2.list('Zone')).length, 1);
  await s2.close();
});

t.test('the database file is private to its owner', async (t) => {
  const dir = path.join(tempDir(t), 'nested', 'work');
  const store = new SqliteStore({ dir });
  await store.create({ type: 'GlobalSecret', name: 's', spec: { data: 'c2VjcmV0' } });
  t.equal(fs.statSync(path.join(dir, SQLITE_FILE_NAME)).mode & 0o777, 0o600);
  t.equal(fs.statSync(dir).mode & 0o077, 0, 'work dir not group/world accessible');
  await store.close();
});

t.test('createStore picks the engine and explains unsupported ones', async (t) => {
  const dir = tempDir(t);
  const mem = await createStore({ type: 'memory' });
  t.ok(mem instanceof MemoryStore);
  const sql = await createStore({ type: 'sqlite', workDir: dir });
  t.ok(sql instanceof SqliteStore);
  t.ok(fs.existsSync(path.join(dir, SQLITE_FILE_NAME)));
  await sql.close();
  // postgres itself is tested in postgres-store.test.ts; without settings it is a usage error.
  await t.rejects(createStore({ type: 'postgres', workDir: dir }), { code: 'ERR_USAGE', message: /store type "postgres" needs connection settings/ });
  await t.rejects(createStore({ type: 'mysql' }), { code: 'ERR_USAGE', message: /unknown store type "mysql" \(KUMA_STORE_TYPE\); supported: memory, sqlite, postgres/ });
  await t.rejects(createStore({ type: 'sqlite' }), { code: 'ERR_USAGE' });
});
