/**
 * A throw-away PostgreSQL server for tests (not a test itself): initdb into a temp dir,
 * `postgres` on 127.0.0.1 and a free port with its socket in that dir, password
 * authentication (scram-sha-256) for TCP, stopped by its pid and deleted in teardown.
 * The server binaries come from Debian's `postgresql` package (.ci/run installs it);
 * without them the caller gets an error saying so, never a silent skip. initdb refuses
 * to run as root, so under root the server runs as the `postgres` user the package
 * creates.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../../lib/free-port';
import type { PostgresStoreConfig } from '../../../cp/store/postgres-store';

/** The superuser the tests connect as, and its password. */
export const PG_USER = 'kuma';
export const PG_PASSWORD = 'kuma-test-secret';

type Teardown = { teardown(fn: () => unknown): void };

/** A running server. */
export interface PgServer {
  host: string;
  port: number;
  dir: string;
  pid: number;
  /** Store settings for database `dbName` on this server. */
  config(dbName: string): PostgresStoreConfig;
  /** A new, empty database; its name. */
  createDb(prefix?: string): Promise<string>;
  /** Runs SQL as the superuser on database `db` (default `postgres`). */
  sql(text: string, params?: unknown[], db?: string): Promise<pg.QueryResult>;
  /** Stops the server (fast shutdown), keeping its files. */
  stop(): Promise<void>;
  /** Immediate shutdown (SIGQUIT: no checkpoint, crash recovery at the next start), keeping its files. */
  crash(): Promise<void>;
  /** Starts it again on the same port and data. */
  restart(): Promise<void>;
}

/** The directory holding initdb and postgres, or an Error telling how to install them. */
export function postgresBinDir(root = '/usr/lib/postgresql'): string {
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) {
    throw new Error(`PostgreSQL server binaries not found (${root}/<version>/bin/postgres): install them with "apt-get install -y postgresql" (.ci/run does)`);
  }
  return path.join(root, versions[0], 'bin');
}

// Under root the server must run as an unprivileged user: the package's `postgres`.
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const u = id('-u');
  const g = id('-g');
  if (u.status !== 0 || g.status !== 0) throw new Error('running as root and there is no "postgres" user to run the test server as (apt-get install -y postgresql creates it)');
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** Options of startPostgres. */
export interface PgServerOptions {
  /** Serve TLS too (ssl=on) with this certificate and key (PEM); plain connections still work. */
  tls?: { certPem: string; keyPem: string };
}

/** Starts a fresh server; stopped by pid and removed in `t`'s teardown. */
export async function startPostgres(t: Teardown, opts: PgServerOptions = {}): Promise<PgServer> {
  const bin = postgresBinDir();
  const user = runAs();
  // Under root the server's user must reach the dir: a TMPDIR under /root would not do.
  const dir = fs.mkdtempSync(path.join(user ? '/tmp' : os.tmpdir(), 'kuma-pg-'));
  const data = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pw');
  fs.writeFileSync(pwfile, PG_PASSWORD);
  if (user) fs.chownSync(dir, user.uid, user.gid), fs.chownSync(pwfile, user.uid, user.gid);
  const init = spawnSync(
    path.join(bin, 'initdb'),
    ['-D', data, '-U', PG_USER, `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { encoding: 'utf8', timeout: 60_000, ...(user ?? {}) },
  );
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.error?.message}`);
  const tlsArgs: string[] = [];
  if (opts.tls) {
    // postgres refuses a key file that others can read.
    const cert = path.join(dir, 'server.crt');
    const key = path.join(dir, 'server.key');
    fs.writeFileSync(cert, opts.tls.certPem);
    fs.writeFileSync(key, opts.tls.keyPem, { mode: 0o600 });
    if (user) for (const f of [cert, key]) fs.chownSync(f, user.uid, user.gid);
    tlsArgs.push('-c', 'ssl=on', '-c', `ssl_cert_file=${cert}`, '-c', `ssl_key_file=${key}`);
  }

  let child: ChildProcess | undefined;
  let port = 0;
  const host = '127.0.0.1';
  const start = async (): Promise<void> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (port === 0 || attempt > 0) port = await freePort({ host });
      let log = '';
      const c = spawn(
        path.join(bin, 'postgres'),
        // Small footprint: several test files may each run a server on a 2-core machine.
        ['-D', data, '-k', dir, '-p', String(port), '-c', `listen_addresses=${host}`, '-c', 'max_connections=60', '-c', 'shared_buffers=16MB', ...tlsArgs],
        { stdio: ['ignore', 'ignore', 'pipe'], ...(user ?? {}) },
      );
      c.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
      // Known at once, so that a test killed while the server starts still stops it.
      child = c;
      if (dying) onExit();
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (c.exitCode !== null || c.signalCode !== null) break;
        if (/database system is ready to accept connections/.test(log)) return;
        if (Date.now() > deadline) {
          c.kill('SIGKILL');
          await exited;
          throw new Error(`postgres did not become ready in 20 s: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      await exited;
      if (!/could not bind|Address already in use/.test(log)) throw new Error(`postgres exited (${c.exitCode}): ${log}`);
    }
    throw new Error('postgres could not bind a free port in 3 attempts');
  };
  // SIGINT = fast shutdown: ends client sessions instead of waiting for them.
  const stop = async (signal: NodeJS.Signals = 'SIGINT'): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    process.kill(c.pid!, signal);
    const timer = setTimeout(() => c.pid && process.kill(c.pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  // If the test process dies without its teardown, do not leave a server behind.
  let dying = false;
  const onExit = () => {
    dying = true;
    if (child?.pid && child.exitCode === null) {
      try {
        process.kill(child.pid, 'SIGQUIT');
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', onExit);
  // A test killed by a signal (tap's timeout sends SIGTERM) skips 'exit' handlers: stop the
  // server, then raise the signal again without us, so that it ends the process as it would
  // have (signal-exit, which tap uses, only re-raises when it is the last listener).
  const onSignal = (sig: NodeJS.Signals) => {
    onExit();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.kill(process.pid, sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  t.teardown(async () => {
    await stop();
    process.off('exit', onExit);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await start();

  const config = (dbName: string): PostgresStoreConfig => ({
    host,
    port,
    user: PG_USER,
    password: PG_PASSWORD,
    dbName,
    connectionTimeout: 5,
    maxOpenConnections: 10,
    tls: { mode: 'disable' },
  });
  const sql = async (text: string, params: unknown[] = [], db = 'postgres'): Promise<pg.QueryResult> => {
    const c = new pg.Client({ host, port, user: PG_USER, password: PG_PASSWORD, database: db });
    await c.connect();
    try {
      return await c.query(text, params);
    } finally {
      await c.end();
    }
  };
  let dbs = 0;
  return {
    host,
    get port() {
      return port;
    },
    dir,
    get pid() {
      return child?.pid ?? 0;
    },
    config,
    sql,
    async createDb(prefix = 'kuma') {
      const name = `${prefix}_${++dbs}`;
      await sql(`CREATE DATABASE ${name}`);
      return name;
    },
    stop: () => stop(),
    crash: () => stop('SIGQUIT'),
    restart: async () => {
      await stop();
      await start();
    },
  };
}
