/**
 * Child process for the PostgreSQL store tests (not a test itself). The connection
 * settings come as JSON in the first argument. Modes:
 *   loop <config>  write forever; after each acknowledged transaction print its index
 *   race <config>  for each stdin line "<name> <expectedVersion> <value>" try an update and
 *                  print "ok <version>", "conflict" or "error <code>"
 * Prints "ready" once the store is open.
 */
import readline from 'node:readline';
import { PostgresStore, type PostgresStoreConfig } from '../../../cp/store/postgres-store';

async function loop(store: PostgresStore): Promise<void> {
  // Continue after whatever a previous (killed) writer committed.
  const counter = await store.get('Config', { name: 'counter' });
  let i = counter ? Number(counter.spec.config) + 1 : 0;
  process.stdout.write('ready\n');
  for (;;) {
    // Three rows per transaction, one large (TOASTed), so a kill often lands mid-transaction:
    // afterwards all three must be from the same transaction.
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

async function race(store: PostgresStore): Promise<void> {
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

const [mode, json] = process.argv.slice(2);
const config = JSON.parse(json) as PostgresStoreConfig;
PostgresStore.open(config)
  .then((store) => (mode === 'loop' ? loop(store) : race(store)))
  .catch((err) => {
    process.stderr.write(`postgres-writer: ${(err as Error).stack}\n`);
    process.exit(1);
  });
