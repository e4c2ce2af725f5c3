/**
 * The store for several CP replicas: one PostgreSQL database shared by every kuma-cp
 * (`KUMA_STORE_TYPE=postgres`), through node-postgres (`pg`) and its connection pool.
 *
 * Writes: one writer at a time across every replica. A transaction first locks the
 * `last_version` row of `store_meta` (`SELECT ... FOR UPDATE`), so writers serialize on
 * it; under READ COMMITTED every later statement of the transaction sees what earlier
 * writers committed, so the optimistic-concurrency check of planTransaction runs
 * against committed state. Versions come from that row, so they increase across
 * replicas and commit order equals version order. A write costs four round trips
 * (BEGIN + lock, read the named keys, one statement for every write and notification,
 * COMMIT). lock_timeout bounds the wait for the lock, and idle_in_transaction_session_timeout
 * lets the server end a frozen replica's transaction, so nobody waits forever.
 *
 * Watch: in-process listeners hear this instance's writes after COMMIT returned (as
 * with SQLite). Other instances hear them through LISTEN/NOTIFY: the transaction
 * sends, per event, `{instance, kind, type, mesh, name, version}` with pg_notify
 * (PostgreSQL delivers it at commit, in commit order; a payload must stay under 8000
 * bytes). When the labels and spec fit too they ride along, and the receiver delivers
 * that exact event (deletes included, with the resource as it was). A larger resource
 * is fetched instead and delivered when it still has the notified version; when it has
 * moved on, a later notification covers it (so other instances may see only the last
 * of quick successive writes to one big resource). A big resource's delete is delivered
 * with a meta-only resource (type, mesh, name, version and times; `spec` is `{}`).
 * When the LISTEN connection is lost it is re-opened with backoff; changes committed
 * meanwhile are re-delivered as `update` events from the rows whose version is above
 * the last one heard, and deletes in that window are lost (a warning says so).
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Backoff } from '../../lib/backoff';
import { KumaError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { Resource, ResourceKey, ResourceType } from '../../api/resource';
import type { ListOptions, StoreEvent, TransactionOp } from './store';
import { sortResources } from './memory-store';
import { resourceFromRow, StoreError } from './resource-row';
import { StoreBase } from './store-base';
import { deliverEvents, planTransaction, storeKey } from './transaction-plan';

/** TLS modes, Kuma's names (store.postgres.tls.mode). */
export const POSTGRES_TLS_MODES = ['disable', 'verifyNone', 'verifyCa', 'verifyFull'] as const;
/** One TLS mode. */
export type PostgresTlsMode = (typeof POSTGRES_TLS_MODES)[number];

/** Connection settings, as in Kuma's `store.postgres` config section. */
export interface PostgresStoreConfig {
  host: string;
  port: number;
  user: string;
  password: string;
  dbName: string;
  /** Seconds to wait for a connection (TCP + TLS + authentication). */
  connectionTimeout: number;
  /** Pool size; 0 means no limit (as in Kuma). */
  maxOpenConnections: number;
  tls: { mode: PostgresTlsMode; certPath?: string; keyPath?: string; caPath?: string };
}

/** Options of PostgresStore.open. */
export interface PostgresStoreOptions extends PostgresStoreConfig {
  logger?: Logger;
  /** Identifies this instance in notifications; random by default. */
  instanceId?: string;
  /** First and maximum delay between LISTEN reconnect attempts (ms). */
  reconnectMs?: { initial: number; max: number };
  /** How long a writer waits for the write lock before failing (ms); default 30 s. */
  lockTimeoutMs?: number;
  /**
   * A session that holds a transaction open without sending anything for this long is ended
   * by the server (ms; default 15 s), so a frozen replica cannot keep the write lock forever.
   */
  idleInTransactionTimeoutMs?: number;
}

/** The channel every instance LISTENs on. */
export const POSTGRES_NOTIFY_CHANNEL = 'kuma_store_changes';
/** application_name of the pool's and the listener's connections (visible in pg_stat_activity). */
export const POSTGRES_APP_NAME = { pool: 'kuma-cp-store', listen: 'kuma-cp-store-listen' } as const;
// pg_notify refuses payloads of 8000 bytes or more.
const MAX_PAYLOAD_BYTES = 7999;
// Serializes migrations of replicas starting at once (any constant works; this one spells "kuma").
const MIGRATION_LOCK_ID = 0x6b756d61;

/**
 * Schema migrations; entry i moves schema_version from i to i+1. Append only: never
 * edit a migration that has shipped. Text columns use the "C" collation, so indexes and
 * comparisons do not depend on the server's locale.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE resources (
     type TEXT COLLATE "C" NOT NULL,
     mesh TEXT COLLATE "C" NOT NULL,          -- '' for global resources
     name TEXT COLLATE "C" NOT NULL,
     version BIGINT NOT NULL,
     creation_time TEXT NOT NULL,
     modification_time TEXT NOT NULL,
     labels TEXT NOT NULL,                    -- JSON object
     spec TEXT NOT NULL,                      -- JSON text, Kuma's form (text keeps key order; jsonb would not)
     PRIMARY KEY (type, mesh, name)
   );
   CREATE INDEX resources_version ON resources (version);
   CREATE TABLE store_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
   INSERT INTO store_meta (key, value) VALUES ('last_version', 0);`,
];

/** The schema version this code writes. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

/** The write path's statements (constant text, so the per-connection prepared plans are reused). */
const SQL = {
  // Simple protocol: both statements in one round trip.
  beginAndLock: "BEGIN; SELECT value FROM store_meta WHERE key = 'last_version' FOR UPDATE",
  prefetch: `SELECT r.* FROM resources r
    JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(type, mesh, name)
      ON r.type = k.type AND r.mesh = k.mesh AND r.name = k.name`,
  // Data-modifying CTEs run exactly once, whether or not the final SELECT reads them.
  write: `WITH del AS (
      DELETE FROM resources r USING unnest($1::text[], $2::text[], $3::text[]) AS k(type, mesh, name)
      WHERE r.type = k.type AND r.mesh = k.mesh AND r.name = k.name
    ), put AS (
      INSERT INTO resources (type, mesh, name, version, creation_time, modification_time, labels, spec)
      SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[])
      ON CONFLICT (type, mesh, name) DO UPDATE SET version = excluded.version,
        creation_time = excluded.creation_time, modification_time = excluded.modification_time,
        labels = excluded.labels, spec = excluded.spec
    ), meta AS (
      UPDATE store_meta SET value = $12 WHERE key = 'last_version'
    )
    SELECT pg_notify($13, p) FROM unnest($14::text[]) WITH ORDINALITY AS x(p, i) ORDER BY i`,
} as const;

interface Row {
  type: string;
  mesh: string;
  name: string;
  version: string;
  creation_time: string;
  modification_time: string;
  labels: string;
  spec: string;
}

/** What one notification carries (short keys: the payload limit is 8000 bytes). */
interface Notice {
  i: string;
  k: StoreEvent['kind'];
  t: string;
  m: string;
  n: string;
  v: string;
  c: string;
  u: string;
  /** Labels and spec, when the whole notice fits the payload limit: then no fetch is needed. */
  l?: Record<string, string>;
  s?: Record<string, unknown>;
}

/** Where the store connects, for messages: never the password. */
export function postgresTarget(c: Pick<PostgresStoreConfig, 'host' | 'port' | 'user' | 'dbName'>): string {
  return `${c.user}@${c.host}:${c.port}/${c.dbName}`;
}

/** node-postgres connection settings for a config; StoreError when a TLS file cannot be read. */
export function postgresClientConfig(
  c: PostgresStoreConfig & Pick<PostgresStoreOptions, 'lockTimeoutMs' | 'idleInTransactionTimeoutMs'>,
  applicationName: string,
): pg.ClientConfig {
  const read = (what: string, file: string | undefined): Buffer | undefined => {
    if (!file) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new StoreError(`PostgreSQL store ${postgresTarget(c)}: cannot read ${what} ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  let ssl: pg.ClientConfig['ssl'] = false;
  if (c.tls.mode !== 'disable') {
    const cert = read('TLS certificate (KUMA_STORE_POSTGRES_TLS_CERT_PATH)', c.tls.certPath);
    const key = read('TLS key (KUMA_STORE_POSTGRES_TLS_KEY_PATH)', c.tls.keyPath);
    const ca = read('TLS CA (KUMA_STORE_POSTGRES_TLS_CA_PATH)', c.tls.caPath);
    ssl = {
      cert,
      key,
      ca,
      rejectUnauthorized: c.tls.mode !== 'verifyNone',
      // verifyCa: the chain must lead to the CA, but the name in the certificate is not checked.
      ...(c.tls.mode === 'verifyCa' ? { checkServerIdentity: () => undefined } : {}),
    };
  }
  return {
    host: c.host,
    port: c.port,
    user: c.user,
    password: c.password,
    database: c.dbName,
    connectionTimeoutMillis: c.connectionTimeout * 1000,
    application_name: applicationName,
    ssl,
    // A peer that vanished without a FIN (network partition) is noticed, including on the
    // otherwise silent LISTEN connection.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    lock_timeout: c.lockTimeoutMs ?? 30_000,
    idle_in_transaction_session_timeout: c.idleInTransactionTimeoutMs ?? 15_000,
  };
}

/** A ResourceStore in a PostgreSQL database shared by several CP instances. */
export class PostgresStore extends StoreBase {
  /** `user@host:port/db`, for logs and errors. */
  readonly target: string;
  /** This instance's id in notifications. */
  readonly instanceId: string;
  private readonly pool: pg.Pool;
  private closed = false;
  private listener?: pg.Client;
  private listenConnected = false;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly backoff: Backoff;
  // Highest version heard through NOTIFY (or read when LISTEN started): catch-up starts above it.
  private highWater = 0n;
  // Versions this instance committed whose own notification has not come back yet: local
  // listeners heard them at COMMIT, so a catch-up after a LISTEN loss must skip them.
  private readonly ownUnheard = new Set<string>();
  private readonly notices: Notice[] = [];
  private draining = false;
  private readonly log?: Logger;

  private constructor(private readonly opts: PostgresStoreOptions) {
    super();
    this.target = postgresTarget(opts);
    this.instanceId = opts.instanceId ?? randomUUID();
    this.log = opts.logger;
    this.backoff = new Backoff({ initialMs: opts.reconnectMs?.initial ?? 200, maxMs: opts.reconnectMs?.max ?? 10_000 });
    this.pool = new pg.Pool({
      ...postgresClientConfig(opts, POSTGRES_APP_NAME.pool),
      max: opts.maxOpenConnections > 0 ? opts.maxOpenConnections : Number.MAX_SAFE_INTEGER,
    });
    // An idle connection that dies (server restart, network) emits here; without a
    // handler the process would crash. The pool drops it and opens a new one on demand.
    this.pool.on('error', (err) => this.log?.warn({ target: this.target, err: err.message }, 'postgres store: idle connection lost; the next call reconnects'));
  }

  /**
   * Connects, migrates the schema (refusing a newer one) and starts listening for other
   * instances' changes. StoreError naming host and database when any of it fails.
   */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(opts);
    try {
      await store.migrate();
      await store.listen();
    } catch (err) {
      await store.close();
      throw store.wrap(err, 'cannot open');
    }
    opts.logger?.info({ target: store.target, schemaVersion: POSTGRES_SCHEMA_VERSION, instanceId: store.instanceId }, 'postgres store opened');
    return store;
  }

  async get(type: ResourceType, key: ResourceKey): Promise<Resource | undefined> {
    this.checkOpen();
    try {
      const r = await this.pool.query<Row>('SELECT * FROM resources WHERE type = $1 AND mesh = $2 AND name = $3', [type, key.mesh ?? '', key.name]);
      return r.rows.length > 0 ? this.fromRow(r.rows[0]) : undefined;
    } catch (err) {
      throw this.wrap(err);
    }
  }

  async list(type: ResourceType, opts: ListOptions = {}): Promise<Resource[]> {
    this.checkOpen();
    try {
      const r =
        opts.mesh !== undefined
          ? await this.pool.query<Row>('SELECT * FROM resources WHERE type = $1 AND mesh = $2', [type, opts.mesh])
          : await this.pool.query<Row>('SELECT * FROM resources WHERE type = $1', [type]);
      // sortResources is the one order every store promises (code units, not collation).
      return sortResources(r.rows.map((row) => this.fromRow(row)));
    } catch (err) {
      throw this.wrap(err);
    }
  }

  async transaction(ops: TransactionOp[]): Promise<Resource[]> {
    if (ops.length === 0) return [];
    this.checkOpen();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.wrap(err);
    }
    let broken: Error | undefined;
    let committing = false;
    let plan: ReturnType<typeof planTransaction>;
    // A checked-out client has no pool error listener: an unhandled 'error' would crash the process.
    const onError = (err: Error) => (broken = err);
    client.on('error', onError);
    try {
      // Four round trips: BEGIN with the lock, the read, every write, COMMIT.
      // The write lock: every writer of every replica queues here. It must be a statement of
      // its own: under READ COMMITTED the read below then gets a snapshot taken after the
      // lock was granted, so it sees whatever the previous holder committed.
      const begun = (await client.query(SQL.beginAndLock)) as unknown as pg.QueryResult<{ value: string }>[];
      let last = BigInt(begun[1].rows[0].value);
      const current = await this.prefetch(client, ops);
      plan = planTransaction(ops, {
        current: (type, key) => current.get(storeKey(type, key)),
        nextVersion: () => String(++last),
        now: new Date().toISOString(),
      });
      await this.applyWrites(client, plan, last);
      committing = true;
      await client.query('COMMIT');
    } catch (err) {
      if (broken || isConnectionError(err)) broken ??= err as Error;
      else await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      if (committing && broken) {
        throw new StoreError(
          `PostgreSQL store ${this.target}: connection lost during COMMIT; the write may or may not have been applied (read it back): ${(err as Error).message}`,
          { cause: err },
        );
      }
      throw this.wrap(err);
    } finally {
      client.off('error', onError);
      // A broken connection is destroyed instead of going back to the pool.
      client.release(broken);
    }
    for (const ev of plan.events) {
      // At or below highWater, its notification has already come back (it can beat COMMIT's reply).
      if (ev.kind !== 'delete' && BigInt(ev.resource.meta.version) > this.highWater) this.ownUnheard.add(ev.resource.meta.version);
    }
    // COMMIT has returned: the write is durable, so watchers may act on it.
    deliverEvents(this.listeners, plan.events);
    return plan.results;
  }

  /** Stops listening and closes every connection; later calls fail with StoreError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const l = this.listener;
    this.listener = undefined;
    await Promise.allSettled([l?.end(), this.pool.end()]);
  }

  // Reads the current row of every key the ops name, inside the lock (planTransaction is synchronous).
  private async prefetch(client: pg.PoolClient, ops: readonly TransactionOp[]): Promise<Map<string, Resource>> {
    const keys = new Map<string, [string, string, string]>();
    for (const op of ops) {
      const [type, key] = op.op === 'delete' ? [op.type, op.key] : [op.input.type, op.input];
      keys.set(storeKey(type, key), [type, key.mesh ?? '', key.name]);
    }
    const cols = [0, 1, 2].map((i) => [...keys.values()].map((k) => k[i]));
    const r = await client.query<Row>({ name: 'kuma-store-prefetch', text: SQL.prefetch, values: cols });
    const out = new Map<string, Resource>();
    for (const row of r.rows) {
      const res = this.fromRow(row);
      out.set(storeKey(res.meta.type, res.meta), res);
    }
    return out;
  }

  // Deletes, upserts, the new last_version and the notifications in one statement: the
  // plan names each key once, so no row is both deleted and upserted.
  private async applyWrites(client: pg.PoolClient, plan: ReturnType<typeof planTransaction>, last: bigint): Promise<void> {
    const dels = plan.writes.filter((w) => w.value === null);
    const puts = plan.writes.flatMap((w) => (w.value ? [w.value] : []));
    const col = (f: (r: Resource) => string) => puts.map(f);
    await client.query({
      name: 'kuma-store-write',
      text: SQL.write,
      values: [
        dels.map((w) => w.type),
        dels.map((w) => w.key.mesh ?? ''),
        dels.map((w) => w.key.name),
        col((r) => r.meta.type),
        col((r) => r.meta.mesh ?? ''),
        col((r) => r.meta.name),
        col((r) => r.meta.version),
        col((r) => r.meta.creationTime),
        col((r) => r.meta.modificationTime),
        col((r) => JSON.stringify(r.meta.labels ?? {})),
        col((r) => JSON.stringify(r.spec)),
        last.toString(),
        POSTGRES_NOTIFY_CHANNEL,
        // Delivered to every LISTENer at COMMIT, in order, and not at all on ROLLBACK.
        plan.events.map((ev) => this.notice(ev)),
      ],
    });
  }

  private notice(ev: StoreEvent): string {
    const m = ev.resource.meta;
    const n: Notice = { i: this.instanceId, k: ev.kind, t: m.type, m: m.mesh ?? '', n: m.name, v: m.version, c: m.creationTime, u: m.modificationTime };
    // Most resources fit whole: the receiver then delivers exactly this event, not the
    // state it finds when it fetches (which may have moved on and so skip this one).
    const whole = JSON.stringify({ ...n, l: m.labels ?? {}, s: ev.resource.spec });
    if (Buffer.byteLength(whole) <= MAX_PAYLOAD_BYTES) return whole;
    const payload = JSON.stringify(n);
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      throw new StoreError(`PostgreSQL store ${this.target}: ${m.type} ${m.mesh ?? ''}/${m.name}: mesh and name are too long for a change notification (${Buffer.byteLength(payload)} bytes, at most ${MAX_PAYLOAD_BYTES})`);
    }
    return payload;
  }

  // Brings the schema to POSTGRES_SCHEMA_VERSION; an advisory lock serializes replicas starting together.
  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const onError = (err: Error) => (broken = err);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
      const r = await client.query<{ version: number }>('SELECT version FROM schema_version');
      const current = r.rows.length > 0 ? r.rows[0].version : 0;
      if (current > POSTGRES_SCHEMA_VERSION) {
        throw new StoreError(
          `PostgreSQL store ${this.target} has schema version ${current}, newer than this kuma-cp understands (${POSTGRES_SCHEMA_VERSION}); upgrade kuma-cp`,
        );
      }
      for (let v = current; v < POSTGRES_SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]);
      if (r.rows.length === 0) await client.query('INSERT INTO schema_version (version) VALUES ($1)', [POSTGRES_SCHEMA_VERSION]);
      else if (current !== POSTGRES_SCHEMA_VERSION) await client.query('UPDATE schema_version SET version = $1', [POSTGRES_SCHEMA_VERSION]);
      await client.query('COMMIT');
      if (current !== POSTGRES_SCHEMA_VERSION) this.log?.info({ target: this.target, from: current, to: POSTGRES_SCHEMA_VERSION }, 'postgres store schema migrated');
    } catch (err) {
      if (broken || isConnectionError(err)) broken ??= err as Error;
      else await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  // Opens the LISTEN connection; on a reconnect, re-delivers what was committed meanwhile.
  private async listen(): Promise<void> {
    const client = new pg.Client(postgresClientConfig(this.opts, POSTGRES_APP_NAME.listen));
    const lost = (why: string) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.listenConnected = false;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.log?.warn({ target: this.target, reason: why }, 'postgres store: LISTEN connection lost; changes by other instances are not heard until it is back');
      this.scheduleReconnect();
    };
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('connection ended'));
    client.on('notification', (msg) => {
      if (msg.channel !== POSTGRES_NOTIFY_CHANNEL || !msg.payload) return;
      let n: Notice;
      try {
        n = JSON.parse(msg.payload);
      } catch {
        return; // Not ours: someone else NOTIFYing on our channel.
      }
      const v = BigInt(n.v);
      if (v > this.highWater) this.highWater = v;
      if (n.i === this.instanceId) {
        this.ownUnheard.delete(n.v); // Local listeners heard it at COMMIT.
        return;
      }
      this.notices.push(n);
      void this.drain();
    });
    this.listener = client;
    await client.connect();
    await client.query(`LISTEN ${POSTGRES_NOTIFY_CHANNEL}`);
    // Everything committed after this read is notified to us.
    const r = await client.query<{ value: string }>("SELECT value FROM store_meta WHERE key = 'last_version'");
    const now = BigInt(r.rows[0].value);
    const reconnect = this.listenConnected === false && this.backoff.attempts > 0;
    const from = this.highWater;
    this.listenConnected = true;
    this.backoff.reset();
    if (!reconnect) {
      if (now > this.highWater) this.highWater = now;
      return;
    }
    await this.catchUp(from, now);
  }

  // Re-delivers rows written by others in (from, to] as updates; deletes in that window cannot be.
  private async catchUp(from: bigint, to: bigint): Promise<void> {
    const r = await this.pool.query<Row>('SELECT * FROM resources WHERE version > $1 AND version <= $2 ORDER BY version', [from.toString(), to.toString()]);
    const missed = r.rows.map((row) => this.fromRow(row)).filter((res) => !this.ownUnheard.has(res.meta.version));
    for (const v of this.ownUnheard) if (BigInt(v) <= to) this.ownUnheard.delete(v);
    if (to > this.highWater) this.highWater = to;
    this.log?.warn(
      { target: this.target, fromVersion: from.toString(), toVersion: to.toString(), redelivered: missed.length },
      'postgres store: LISTEN reconnected; changes made meanwhile by other instances are re-delivered as updates, deletes made meanwhile were missed',
    );
    deliverEvents(this.listeners, missed.map((resource) => ({ kind: 'update' as const, resource })));
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.backoff.next();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed) return;
      this.listen().catch((err: Error) => {
        this.log?.warn({ target: this.target, err: err.message, retryInMs: delay }, 'postgres store: LISTEN reconnect failed');
        const c = this.listener;
        this.listener = undefined;
        c?.end().catch(() => undefined);
        this.scheduleReconnect();
      });
    }, delay);
    this.reconnectTimer.unref();
  }

  // Delivers other instances' changes one at a time, in commit order.
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.notices.length > 0 && !this.closed) {
        const n = this.notices.shift()!;
        const key = { ...(n.m !== '' ? { mesh: n.m } : {}), name: n.n };
        if (n.s !== undefined) {
          const labels = n.l ?? {};
          const resource: Resource = {
            meta: { type: n.t as ResourceType, ...key, version: n.v, creationTime: n.c, modificationTime: n.u, ...(Object.keys(labels).length > 0 ? { labels } : {}) },
            spec: n.s,
          };
          deliverEvents(this.listeners, [{ kind: n.k, resource }]);
          continue;
        }
        if (n.k === 'delete') {
          const resource: Resource = {
            meta: { type: n.t as ResourceType, ...key, version: n.v, creationTime: n.c, modificationTime: n.u },
            spec: {},
          };
          deliverEvents(this.listeners, [{ kind: 'delete', resource }]);
          continue;
        }
        let cur: Resource | undefined;
        try {
          cur = await this.get(n.t as ResourceType, key);
        } catch (err) {
          if (this.closed) return;
          this.log?.warn({ target: this.target, type: n.t, mesh: n.m, name: n.n, err: (err as Error).message }, 'postgres store: cannot read a changed resource; its change event is dropped');
          continue;
        }
        // Moved on (or deleted): a later notification delivers the newer state.
        if (cur && cur.meta.version === n.v) deliverEvents(this.listeners, [{ kind: n.k, resource: cur }]);
      }
    } finally {
      this.draining = false;
    }
  }

  private fromRow(r: Row): Resource {
    return resourceFromRow(r, `PostgreSQL store ${this.target}`);
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError(`PostgreSQL store ${this.target} is closed`);
  }

  // Our own errors (NotFound, Conflict, Store) pass through; pg's become StoreErrors naming the target.
  private wrap(err: unknown, what?: string): Error {
    if (err instanceof KumaError) return err;
    const e = err as Error & { code?: string };
    const hint = isConnectionError(err)
      ? ' (the database is unreachable; later calls reconnect)'
      : e.code === '55P03'
        ? ' (another writer held the write lock too long)'
        : e.code === '25P03'
          ? ' (the server ended a transaction left idle too long)'
          : '';
    const detail = e.code ? ` (${e.code})` : '';
    return new StoreError(`PostgreSQL store ${this.target}${what ? ` ${what}` : ''}: ${e.message}${detail}${hint}`, { cause: err });
  }
}

// Connection-level failures (the socket, not the statement): the client cannot be reused.
function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && /^(ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_)/.test(e.code)) return true;
  // SQLSTATE class 08 (connection exception) and 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now).
  if (typeof e?.code === 'string' && (/^08/.test(e.code) || /^57P0[123]$/.test(e.code))) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(e?.message ?? '');
}
