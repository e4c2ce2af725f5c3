/**
 * Kuma's four TLS modes against a real PostgreSQL serving TLS with a certificate that
 * `openssl` issued for the name `localhost` only (no IP address): `disable` stays plain,
 * `verifyNone` encrypts without checks, `verifyCa` checks the chain but not the name,
 * `verifyFull` checks both. pg_stat_ssl, read by the server itself, says which
 * connections are encrypted.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { POSTGRES_APP_NAME, PostgresStore, type PostgresStoreConfig } from '../../../cp/store/postgres-store';
import { startPostgres } from './postgres-server';

/** A CA, a server certificate for DNS:localhost signed by it, and an unrelated CA. */
function makeCerts(dir: string): { ca: string; otherCa: string; certPem: string; keyPem: string } {
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=kuma-test-ca', '-days', '2');
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.crt', '-subj', '/CN=other-ca', '-days', '2');
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost\n');
  ossl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
  const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
  return { ca: path.join(dir, 'ca.crt'), otherCa: path.join(dir, 'other.crt'), certPem: read('server.crt'), keyPem: read('server.key') };
}

t.test('TLS modes', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-pg-tls-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const certs = makeCerts(dir);
  const pg = await startPostgres(t, { tls: { certPem: certs.certPem, keyPem: certs.keyPem } });
  const db = await pg.createDb();

  /** Opens a store, writes, and returns whether the server saw its connections encrypted. */
  const encrypted = async (cfg: PostgresStoreConfig): Promise<boolean[]> => {
    const s = await PostgresStore.open(cfg);
    try {
      await s.upsert({ type: 'Zone', name: 'z', spec: {} });
      const r = await pg.sql(
        'SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = ANY($1) AND a.datname = $2',
        [[POSTGRES_APP_NAME.pool, POSTGRES_APP_NAME.listen], db],
      );
      return [...new Set(r.rows.map((x) => x.ssl as boolean))];
    } finally {
      await s.close();
    }
  };
  const base = pg.config(db);

  t.same(await encrypted(base), [false], 'disable: plain connections');
  t.same(await encrypted({ ...base, tls: { mode: 'verifyNone' } }), [true], 'verifyNone: encrypted, nothing checked');
  t.same(await encrypted({ ...base, tls: { mode: 'verifyCa', caPath: certs.ca } }), [true], 'verifyCa: the chain is checked, the name (127.0.0.1) is not');
  t.same(await encrypted({ ...base, host: 'localhost', tls: { mode: 'verifyFull', caPath: certs.ca } }), [true], 'verifyFull: the chain and the name localhost match');

  await t.rejects(PostgresStore.open({ ...base, tls: { mode: 'verifyFull', caPath: certs.ca } }), {
    code: 'ERR_STORE',
    message: new RegExp(`^PostgreSQL store kuma@127\\.0\\.0\\.1:${pg.port}/${db} cannot open: .*(IP: 127\\.0\\.0\\.1 is not in the cert's list|does not match certificate)`),
  }, 'verifyFull: a certificate for localhost does not cover 127.0.0.1');
  await t.rejects(PostgresStore.open({ ...base, tls: { mode: 'verifyCa', caPath: certs.otherCa } }), {
    code: 'ERR_STORE',
    message: /cannot open: .*(self-signed certificate in certificate chain|unable to (get|verify))/,
  }, 'verifyCa: a server certificate from another CA is refused');
  await t.rejects(PostgresStore.open({ ...base, host: 'localhost', tls: { mode: 'verifyFull' } }), { code: 'ERR_STORE', message: /cannot open: .*(self-signed certificate|unable to (get|verify))/ }, 'verifyFull without caPath uses the system CAs, which do not know this one');
});
