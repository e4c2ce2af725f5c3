/**
 * Store write throughput and cross-replica delivery, on a throw-away PostgreSQL 15
 * (test/integration/store/postgres-server.ts) with fsync on:
 *   1. postgres store, one writer: sequential single-resource upserts, tx/s and latency;
 *   2. postgres store, 4 writers in one process (queueing on the write lock);
 *   3. sqlite store, one writer (the default engine, same machine) for reference;
 *   4. peer: pgbench (PostgreSQL's own client) running the same statements our store
 *      sends per write (lock row, read the key, upsert, bump last_version, NOTIFY) with
 *      one client: the floor for this transaction shape on this server;
 *   5. NOTIFY delivery: a write on instance A until instance B's watcher has the resource.
 * Each measurement runs `rounds` times for `seconds` each; the table quotes medians.
 * Usage: npm run bench -- store-writes [--seconds=3] [--rounds=3]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PostgresStore, POSTGRES_NOTIFY_CHANNEL } from '../cp/store/postgres-store';
import { SqliteStore } from '../cp/store/sqlite-store';
import type { ResourceStore } from '../cp/store/store';
import { postgresBinDir, PG_PASSWORD, PG_USER, startPostgres } from '../test/integration/store/postgres-server';
import { parseArgs } from './harness/args';
import { printTable, writeResults, type Table } from './harness/results';
import { runContext } from './harness/run-context';
import { median, round, summary } from './harness/stats';

const teardowns: Array<() => unknown> = [];
const T = { teardown: (fn: () => unknown) => void teardowns.push(fn) };

/** Sequential upserts by `writers` concurrent loops for `seconds`; tx/s and per-write latency (ms). */
async function writeLoad(store: ResourceStore, writers: number, seconds: number): Promise<{ tps: number; lat: number[] }> {
  const lat: number[] = [];
  const end = Date.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; Date.now() < end; i++) {
        const t0 = process.hrtime.bigint();
        await store.upsert({ type: 'Config', name: `bench-${w}-${i % 1000}`, spec: { config: `v${i}` } });
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        n++;
      }
    }),
  );
  return { tps: n / seconds, lat };
}

/** pgbench with our write's statements, one client; its reported tps. */
function pgbench(bin: string, host: string, port: number, db: string, seconds: number, dir: string): number {
  const script = path.join(dir, 'store-write.sql');
  fs.writeFileSync(
    script,
    [
      '\\set n random(1, 1000)',
      'BEGIN;',
      "SELECT value FROM store_meta WHERE key = 'last_version' FOR UPDATE;",
      "SELECT * FROM resources WHERE type = 'Config' AND mesh = '' AND name = 'pgb-' || :n;",
      "INSERT INTO resources (type, mesh, name, version, creation_time, modification_time, labels, spec) VALUES ('Config', '', 'pgb-' || :n, 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '{}', '{\"config\":\"v\"}') ON CONFLICT (type, mesh, name) DO UPDATE SET version = excluded.version, modification_time = excluded.modification_time, spec = excluded.spec;",
      "UPDATE store_meta SET value = value + 1 WHERE key = 'last_version';",
      `SELECT pg_notify('${POSTGRES_NOTIFY_CHANNEL}', 'pgbench');`,
      'COMMIT;',
      '',
    ].join('\n'),
  );
  const r = spawnSync(path.join(bin, 'pgbench'), ['-n', '-f', script, '-c', '1', '-T', String(seconds), '-h', host, '-p', String(port), '-U', PG_USER, db], {
    encoding: 'utf8',
    env: { ...process.env, PGPASSWORD: PG_PASSWORD },
    timeout: (seconds + 30) * 1000,
  });
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(r.stdout);
  if (!m) throw new Error(`pgbench failed (${r.status}): ${r.stderr}${r.stdout}`);
  return Number(m[1]);
}

/** Write on A, time until B's watcher delivered it (ms), `count` times in sequence. */
async function notifyLatency(a: PostgresStore, b: PostgresStore, count: number): Promise<number[]> {
  const out: number[] = [];
  let waiting: ((name: string) => void) | undefined;
  b.watch((ev) => waiting?.(ev.resource.meta.name));
  for (let i = 0; i < count; i++) {
    const name = `notify-${i}`;
    const t0 = process.hrtime.bigint();
    const seen = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`B did not hear ${name} in 5 s`)), 5000);
      waiting = (n) => {
        if (n !== name) return;
        clearTimeout(timer);
        resolve();
      };
    });
    await a.upsert({ type: 'Config', name, spec: { config: String(i) } });
    await seen;
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { seconds: 3, rounds: 3 });
  const before = runContext();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-bench-store-'));
  teardowns.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const pg = await startPostgres(T);
  const bin = postgresBinDir();
  const version = spawnSync(path.join(bin, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim();

  const rows: Record<string, { tps: number[]; p50: number[]; p99: number[] }> = {};
  const add = (k: string, tps: number, lat?: number[]) => {
    rows[k] ??= { tps: [], p50: [], p99: [] };
    rows[k].tps.push(tps);
    if (lat) {
      const s = summary(lat);
      rows[k].p50.push(s.p50);
      rows[k].p99.push(s.p99);
    }
  };
  const notify: number[] = [];
  // Per round: our rate over pgbench's, measured back to back, so load swings cancel out.
  const ratios: number[] = [];
  for (let round = 0; round < args.rounds; round++) {
    const db = await pg.createDb('bench');
    const a = await PostgresStore.open(pg.config(db));
    const b = await PostgresStore.open(pg.config(db));
    // Alternate which goes first, so neither always meets the same moment of load.
    let one: { tps: number; lat: number[] };
    let peer: number;
    if (round % 2 === 0) {
      one = await writeLoad(a, 1, args.seconds);
      peer = pgbench(bin, pg.host, pg.port, db, args.seconds, tmp);
    } else {
      peer = pgbench(bin, pg.host, pg.port, db, args.seconds, tmp);
      one = await writeLoad(a, 1, args.seconds);
    }
    add('postgres store, 1 writer', one.tps, one.lat);
    add('pgbench, same statements, 1 client (peer)', peer);
    ratios.push(one.tps / peer);
    const four = await writeLoad(a, 4, args.seconds);
    add('postgres store, 4 writers (one process)', four.tps, four.lat);
    notify.push(...(await notifyLatency(a, b, 200)));
    await Promise.all([a.close(), b.close()]);
    const sdir = fs.mkdtempSync(path.join(tmp, 'sqlite-'));
    const s = new SqliteStore({ dir: sdir });
    const sq = await writeLoad(s, 1, args.seconds);
    add('sqlite store, 1 writer (reference)', sq.tps, sq.lat);
    await s.close();
    console.log(`round ${round + 1}/${args.rounds}: pg ${Math.round(one.tps)} tx/s, pgbench ${Math.round(rows['pgbench, same statements, 1 client (peer)'].tps.at(-1)!)} tx/s`);
  }
  const table: Table = {
    title: `Store writes (single-resource upsert, fsync on), median of ${args.rounds} × ${args.seconds} s`,
    columns: ['engine', 'tx/s', 'p50 ms', 'p99 ms', 'tx/s per round'],
    rows: Object.entries(rows).map(([k, v]) => [k, round(median(v.tps)), v.p50.length ? round(median(v.p50)) : NaN, v.p99.length ? round(median(v.p99)) : NaN, v.tps.map((x) => Math.round(x)).join(' / ')]),
  };
  const ns = summary(notify);
  const ntable: Table = {
    title: 'Cross-instance delivery: upsert on A until B’s watcher has the resource (NOTIFY + fetch)',
    columns: ['samples', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
    rows: [[ns.n, round(ns.p50), round(ns.p90), round(ns.p99), round(ns.max)]],
  };
  printTable(table);
  printTable(ntable);
  console.log(`\npostgres store / pgbench per round: ${ratios.map((r) => `${round(r * 100)} %`).join(', ')}; median ${round(median(ratios) * 100)} %`);
  const ratio = median(ratios);
  const files = writeResults({
    bench: 'store-writes',
    params: { seconds: args.seconds, rounds: args.rounds, server: version },
    data: { rows, ratios, notify: ns },
    tables: [table, ntable],
    verdicts: [`postgres store, 1 writer: ${round(ratio * 100)}% of pgbench's rate for the same statements, 1 client (median of per-round ratios ${ratios.map((r) => round(r * 100)).join(' / ')} %)`],
    notes: [
      'PostgreSQL runs from Debian binaries in a temp dir (initdb, fsync on, synchronous_commit on, shared_buffers 16MB), on 127.0.0.1 TCP with scram-sha-256.',
      'Our write is 4 round trips (BEGIN + lock as one simple query, read the keys, one statement with the upsert, last_version and NOTIFY, COMMIT); pgbench sends the 7 statements one by one with the simple protocol from C, as the first version of the store did.',
      '4 writers in one process share the pool and queue on the one write lock, so tx/s does not grow with writers; p99 shows the queueing.',
      'The machine is shared (2 cores) with other builds and tests; see the load and busiest processes below.',
    ],
    context: { before, after: runContext() },
  });
  console.log(`results: ${path.relative(process.cwd(), files.json)}, ${path.relative(process.cwd(), files.md)}`);
}

main()
  .catch((err) => {
    console.error(`store-writes: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const fn of teardowns.reverse()) await fn();
  });
