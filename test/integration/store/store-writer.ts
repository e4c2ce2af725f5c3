/**
 * Child process for the store durability and concurrency tests (not a test itself).
 * `store-writer <engine> <mode> <where> [n]`: engine `sqlite` (where = the directory)
 * or `postgres` (where = the connection settings as JSON). Modes:
 *   loop   write forever; after each acknowledged transaction print its index
 *   race   for each stdin line "<name> <expectedVersion> <value>" try an update and
 *          print "ok <version>", "conflict" or "error <code>"
 *   count  (sqlite) make n single-row writes, then close (for syscall counting)
 */
import readline from 'node:readline';
import type { ResourceStore } from '../../../cp/store/store';
import { SqliteStore } from '../../../cp/store/sqlite-store';
import { PostgresStore, type PostgresStoreConfig } from '../../../cp/store/postgres-store';

async function loop(store: ResourceStore): Promise<void> {
  // Continue after whatever a previous (killed) writer committed.
  const counter = await store.get('Config', { name: 'counter' });
  let i = counter ? Number(counter.spec.config) + 1 : 0;
  process.stdout.write('ready\n');
  for (;;) {
    // Three rows per transaction, one large (several SQLite pages; TOASTed in PostgreSQL),
    // so a kill often lands mid-commit: after a crash all three must be from the same transaction.
    const blob = `${i}:${'x'.repeat(1000 + ((i * 7919) % 20000))}`;
    await store.transaction([
      { op: 'create', input: { type: 'Config', name: `w-${i}`, spec: { config: String(i) } } },
      { op: 'upsert', input: { type: 'Config', name: 'blob', spec: { config: blob } } },
      { op: 'upsert', input: { type: 'Config', name: 'counter', spec: { config: String(i) } } },
    ]);
    process.stdout.write(`${i}\n`);
    i++;
  }
}

async function race(store: ResourceStore): Promise<void> {
  process.stdout.write('ready\n');
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [name, expectedVersion, value] = line.trim().split(' ');
    try {
      const r = await store.update({ type: 'Config', name, spec: { config: value } }, { expectedVersion });
      process.stdout.write(`ok ${r.meta.version}\n`);
    } catch (err) {
      const code = (err as { code?: string }).code;
      process.stdout.write(code === 'ERR_CONFLICT' ? 'conflict\n' : `error ${code ?? (err as Error).message}\n`);
    }
  }
  await store.close();
}

async function count(store: ResourceStore, n: number): Promise<void> {
  process.stdout.write('ready\n');
  for (let i = 0; i < n; i++) await store.create({ type: 'Config', name: `c-${i}`, spec: { config: String(i) } });
  await store.close();
}

async function main(): Promise<void> {
  const [engine, mode, where, n] = process.argv.slice(2);
  const store: ResourceStore = engine === 'postgres' ? await PostgresStore.open(JSON.parse(where) as PostgresStoreConfig) : new SqliteStore({ dir: where });
  if (mode === 'loop') return loop(store);
  if (mode === 'count') return count(store, Number(n));
  return race(store);
}

main().catch((err) => {
  process.stderr.write(`store-writer: ${(err as Error).stack}\n`);
  process.exit(1);
});
