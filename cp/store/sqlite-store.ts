/**
 * The default durable store: one SQLite file (`kuma.db`) in the CP's work directory,
 * through better-sqlite3. Durability: WAL journal with `synchronous=FULL`, so the WAL is
 * fsynced before a commit returns and an acknowledged write survives a process kill
 * or power loss (https://www.sqlite.org/pragma.html#pragma_synchronous). Writes run in
 * `BEGIN IMMEDIATE` transactions, so several processes sharing the file serialize and
 * the optimistic-concurrency check sees committed state. Watchers hear about a write
 * only after its COMMIT returned; they hear only this instance's writes.
 *
 * better-sqlite3 is synchronous; the async methods keep the ResourceStore contract (a
 * PostgreSQL store will really be asynchronous).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { KumaError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { Resource, ResourceKey, ResourceType } from '../../api/resource';
import type { ListOptions, TransactionOp } from './store';
import { sortResources } from './memory-store';
import { resourceFromRow, StoreError } from './resource-row';

export { StoreError } from './resource-row';
import { StoreBase } from './store-base';
import { deliverEvents, planTransaction } from './transaction-plan';

/** File name of the database inside the work directory. */
export const SQLITE_FILE_NAME = 'kuma.db';

/**
 * Schema migrations; entry i moves `PRAGMA user_version` from i to i+1. Append only:
 * never edit a migration that has shipped.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE resources (
     type TEXT NOT NULL,
     mesh TEXT NOT NULL,           -- '' for global resources
     name TEXT NOT NULL,
     version INTEGER NOT NULL,
     creation_time TEXT NOT NULL,
     modification_time TEXT NOT NULL,
     labels TEXT NOT NULL,         -- JSON object
     spec TEXT NOT NULL,           -- JSON object, Kuma's form
     PRIMARY KEY (type, mesh, name)
   ) WITHOUT ROWID;
   CREATE TABLE store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
   INSERT INTO store_meta (key, value) VALUES ('last_version', 0);`,
];

/** The schema version this code writes. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;


/** Options of a SqliteStore. */
export interface SqliteStoreOptions {
  /** Directory holding `kuma.db` (created 0700 if missing). */
  dir: string;
  /** How long a writer waits for another process's write lock before failing (ms). */
  busyTimeoutMs?: number;
  /** Run a full `integrity_check` instead of the cheaper `quick_check` on open. */
  fullCheckOnOpen?: boolean;
  logger?: Logger;
}

interface Row {
  type: string;
  mesh: string;
  name: string;
  version: number;
  creation_time: string;
  modification_time: string;
  labels: string;
  spec: string;
}

/** A ResourceStore in one SQLite file. */
export class SqliteStore extends StoreBase {
  /** Absolute path of the database file. */
  readonly file: string;
  private readonly db: Database.Database;
  private readonly stmt: {
    get: Database.Statement<[string, string, string], Row>;
    listAll: Database.Statement<[string], Row>;
    listMesh: Database.Statement<[string, string], Row>;
    put: Database.Statement<[string, string, string, number, string, string, string, string]>;
    del: Database.Statement<[string, string, string]>;
    lastVersion: Database.Statement<[], { value: number }>;
    setLastVersion: Database.Statement<[number]>;
  };
  private readonly applyTx: (ops: readonly TransactionOp[]) => ReturnType<typeof planTransaction>;

  /** Opens (creating if needed) `<dir>/kuma.db`, migrating its schema; throws StoreError naming the file. */
  constructor(opts: SqliteStoreOptions) {
    super();
    this.file = path.resolve(opts.dir, SQLITE_FILE_NAME);
    const file = this.file;
    try {
      fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      // Secrets live here: create the file owner-only; SQLite gives -wal/-shm the same mode.
      fs.closeSync(fs.openSync(file, 'a', 0o600));
    } catch (err) {
      throw new StoreError(`cannot create SQLite store ${file}: ${(err as Error).message}`, { cause: err });
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { timeout: opts.busyTimeoutMs ?? 5000 });
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`journal_mode is ${String(mode)}, WAL is required`);
      db.pragma('synchronous = FULL');
      const check = opts.fullCheckOnOpen ? 'integrity_check' : 'quick_check';
      const result = db.pragma(check, { simple: true });
      if (result !== 'ok') throw new Error(`${check} failed: ${String(result)}`);
      migrate(db, file);
    } catch (err) {
      db?.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot open SQLite store ${file}: ${(err as Error).message}; the file is unreadable or corrupt (restore it from a backup or move it away to start empty)`, { cause: err });
    }
    this.db = db;
    this.stmt = {
      get: db.prepare('SELECT * FROM resources WHERE type = ? AND mesh = ? AND name = ?'),
      listAll: db.prepare('SELECT * FROM resources WHERE type = ? ORDER BY mesh, name'),
      listMesh: db.prepare('SELECT * FROM resources WHERE type = ? AND mesh = ? ORDER BY name'),
      put: db.prepare(
        `INSERT INTO resources (type, mesh, name, version, creation_time, modification_time, labels, spec)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (type, mesh, name) DO UPDATE SET version = excluded.version,
           creation_time = excluded.creation_time, modification_time = excluded.modification_time,
           labels = excluded.labels, spec = excluded.spec`,
      ),
      del: db.prepare('DELETE FROM resources WHERE type = ? AND mesh = ? AND name = ?'),
      lastVersion: db.prepare("SELECT value FROM store_meta WHERE key = 'last_version'"),
      setLastVersion: db.prepare("UPDATE store_meta SET value = ? WHERE key = 'last_version'"),
    };
    // The plan reads inside the write lock, so its version checks see committed state.
    const tx = db.transaction((ops: readonly TransactionOp[]) => {
      let last = this.stmt.lastVersion.get()?.value ?? 0;
      const plan = planTransaction(ops, {
        current: (type, key) => this.read(type, key),
        nextVersion: () => String(++last),
        now: new Date().toISOString(),
      });
      for (const w of plan.writes) {
        if (w.value === null) {
          this.stmt.del.run(w.type, w.key.mesh ?? '', w.key.name);
        } else {
          const m = w.value.meta;
          this.stmt.put.run(m.type, m.mesh ?? '', m.name, Number(m.version), m.creationTime, m.modificationTime, JSON.stringify(m.labels ?? {}), JSON.stringify(w.value.spec));
        }
      }
      this.stmt.setLastVersion.run(last);
      return plan;
    });
    this.applyTx = (ops) => tx.immediate(ops);
    opts.logger?.info({ file, schemaVersion: SQLITE_SCHEMA_VERSION }, 'sqlite store opened');
  }


  async get(type: ResourceType, key: ResourceKey): Promise<Resource | undefined> {
    return this.guard(() => this.read(type, key));
  }

  async list(type: ResourceType, opts: ListOptions = {}): Promise<Resource[]> {
    return this.guard(() => {
      const rows = opts.mesh !== undefined ? this.stmt.listMesh.all(type, opts.mesh) : this.stmt.listAll.all(type);
      // SQLite orders by bytes; sortResources is the one order every store promises.
      return sortResources(rows.map((r) => this.fromRow(r)));
    });
  }

  async transaction(ops: TransactionOp[]): Promise<Resource[]> {
    if (ops.length === 0) return [];
    const plan = this.guard(() => this.applyTx(ops));
    // COMMIT has returned: the write is durable, so watchers may act on it.
    deliverEvents(this.listeners, plan.events);
    return plan.results;
  }

  /** Closes the database (checkpointing the WAL); later calls fail with StoreError. */
  async close(): Promise<void> {
    this.listeners.clear();
    if (this.db.open) this.db.close();
  }

  private read(type: ResourceType, key: ResourceKey): Resource | undefined {
    const row = this.stmt.get.get(type, key.mesh ?? '', key.name);
    return row ? this.fromRow(row) : undefined;
  }

  private fromRow(r: Row): Resource {
    return resourceFromRow(r, `SQLite store ${this.file}`);
  }

  // Our own errors (NotFound, Conflict) pass through; SQLite's become StoreErrors naming the file.
  private guard<T>(fn: () => T): T {
    if (!this.db.open) throw new StoreError(`SQLite store ${this.file} is closed`);
    try {
      return fn();
    } catch (err) {
      if (err instanceof KumaError) throw err;
      const code = (err as { code?: string }).code;
      throw new StoreError(`SQLite store ${this.file}: ${(err as Error).message}${code ? ` (${code})` : ''}`, { cause: err });
    }
  }
}

// Brings the schema to SQLITE_SCHEMA_VERSION inside one write transaction.
function migrate(db: Database.Database, file: string): void {
  const run = db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > SQLITE_SCHEMA_VERSION) {
      throw new StoreError(`SQLite store ${file} has schema version ${current}, newer than this kuma-cp understands (${SQLITE_SCHEMA_VERSION}); upgrade kuma-cp`);
    }
    for (let v = current; v < SQLITE_SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    if (current !== SQLITE_SCHEMA_VERSION) db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
  });
  run.immediate();
}
