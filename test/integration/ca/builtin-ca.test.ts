/**
 * The builtin mesh CA over a real store, checked with openssl and real TLS handshakes:
 * issued identities verify against their mesh CA and not against another mesh's; SANs
 * are what Envoy and TrafficPermission expect; the CA secrets carry Kuma's names and
 * survive a store reopen (SQLite), and are never overwritten.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { BuiltinCaManager } from '../../../cp/ca/builtin-ca-manager';
import { CaComponent } from '../../../cp/ca/ca-component';
import { MemoryStore } from '../../../cp/store/memory-store';
import { SqliteStore } from '../../../cp/store/sqlite-store';
import type { IdentityCert } from '../../../cp/ca/types';

function tempDir(t: { teardown(fn: () => unknown): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-ca-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function mtlsMesh(name: string, extra: Record<string, unknown> = {}) {
  return { type: 'Mesh' as const, name, spec: { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin', ...extra }] } } };
}

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function write(dir: string, name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

t.test('openssl verifies an identity against its mesh CA only; SANs carry SPIFFE and kuma:// URIs', async (t) => {
  const dir = tempDir(t);
  const store = new MemoryStore();
  await store.create(mtlsMesh('m1'));
  await store.create(mtlsMesh('m2'));
  const ca = new BuiltinCaManager({ store, keyPoolSize: 0 });
  const id = await ca.issue({ mesh: 'm1', tags: { 'kuma.io/service': ['backend'], 'kuma.io/zone': ['zone-1'], version: ['v1'] } });
  const ca1 = write(dir, 'ca1.pem', await ca.caCertPem('m1'));
  const ca2 = write(dir, 'ca2.pem', await ca.caCertPem('m2'));
  const leaf = write(dir, 'leaf.pem', id.certPem);
  t.not(fs.readFileSync(ca1, 'utf8'), fs.readFileSync(ca2, 'utf8'), 'each mesh has its own CA');

  const ok = openssl(['verify', '-CAfile', ca1, '-purpose', 'sslserver', leaf]);
  t.equal(ok.status, 0, ok.out);
  t.match(ok.out, /: OK/);
  const okClient = openssl(['verify', '-CAfile', ca1, '-purpose', 'sslclient', leaf]);
  t.equal(okClient.status, 0, okClient.out);
  const bad = openssl(['verify', '-CAfile', ca2, leaf]);
  t.not(bad.status, 0, 'another mesh CA does not verify it');
  t.match(bad.out, /unable to get local issuer certificate|certificate signature failure/);

  const san = openssl(['x509', '-noout', '-ext', 'subjectAltName', '-in', leaf]);
  t.equal(san.status, 0, san.out);
  t.match(san.out, 'URI:spiffe://m1/backend, URI:kuma://kuma.io/service/backend, URI:kuma://kuma.io/zone/zone-1, URI:kuma://version/v1');
  const text = openssl(['x509', '-noout', '-text', '-in', leaf]).out;
  t.match(text, /CA:FALSE/);
  // Identity keys are ECDSA P-256 by default: digitalSignature only (RFC 5480 3, no keyEncipherment).
  t.match(text, /Public Key Algorithm: id-ecPublicKey/);
  t.match(text, /Key Usage: critical\s+Digital Signature\n/);
  t.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  const caText = openssl(['x509', '-noout', '-text', '-in', ca1]).out;
  t.match(caText, /CA:TRUE/);
  t.match(caText, /Certificate Sign, CRL Sign/);
  t.match(caText, /Subject: CN ?= ?m1/);
});

/** Runs one mTLS handshake between two identities; resolves with the error text or 'ok'. */
async function handshake(t: { teardown(fn: () => unknown): void }, server: IdentityCert, client: IdentityCert): Promise<string> {
  const srv = tls.createServer({ cert: server.certPem, key: server.keyPem, ca: server.caPem, requestCert: true, rejectUnauthorized: true }, (s) => {
    s.end('hello');
  });
  srv.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  const port = (srv.address() as AddressInfo).port;
  return new Promise((resolve) => {
    const c = tls.connect({ host: '127.0.0.1', port, cert: client.certPem, key: client.keyPem, ca: client.caPem, checkServerIdentity: () => undefined, timeout: 5000 });
    let data = '';
    c.on('data', (d) => (data += d));
    c.on('end', () => resolve(data === 'hello' ? 'ok' : `no data (${data})`));
    c.on('error', (e) => resolve(e.message));
    c.on('timeout', () => {
      c.destroy();
      resolve('timeout');
    });
  });
}

t.test('mTLS over real sockets: same mesh connects, cross-mesh is refused', async (t) => {
  const store = new MemoryStore();
  await store.create(mtlsMesh('m1'));
  await store.create(mtlsMesh('m2'));
  const ca = new BuiltinCaManager({ store, keyPoolSize: 0 });
  const a = await ca.issue({ mesh: 'm1', tags: { 'kuma.io/service': ['a'] } });
  const b = await ca.issue({ mesh: 'm1', tags: { 'kuma.io/service': ['b'] } });
  const x = await ca.issue({ mesh: 'm2', tags: { 'kuma.io/service': ['a'] } });
  t.equal(await handshake(t, a, b), 'ok');
  t.not(await handshake(t, a, x), 'ok', 'a mesh-2 client is refused by a mesh-1 server');
  t.not(await handshake(t, x, a), 'ok', 'a mesh-1 client refuses a mesh-2 server');
});

t.test('CA secrets have Kuma names, survive a reopen, and are never overwritten', async (t) => {
  const dir = tempDir(t);
  let store = new SqliteStore({ dir });
  await store.create(mtlsMesh('m1', { dpCert: { rotation: { expiration: '2h' } } }));
  const comp = new CaComponent({ store, ca: new BuiltinCaManager({ store, keyPoolSize: 0 }) });
  await comp.start();
  const names = (await store.list('Secret', { mesh: 'm1' })).map((s) => s.meta.name);
  t.same(names, ['m1.ca-builtin-cert-ca-1', 'm1.ca-builtin-key-ca-1']);
  const certBefore = (await store.get('Secret', { mesh: 'm1', name: 'm1.ca-builtin-cert-ca-1' }))!;
  t.match(Buffer.from(certBefore.spec.data, 'base64').toString(), /^-----BEGIN CERTIFICATE-----/);
  const keyBefore = (await store.get('Secret', { mesh: 'm1', name: 'm1.ca-builtin-key-ca-1' }))!;
  t.match(Buffer.from(keyBefore.spec.data, 'base64').toString(), /^-----BEGIN RSA PRIVATE KEY-----/);

  // A mesh created later gets its CA through the watch.
  await store.create(mtlsMesh('m3'));
  const deadline = Date.now() + 10_000;
  while ((await store.list('Secret', { mesh: 'm3' })).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal((await store.list('Secret', { mesh: 'm3' })).length, 2, 'watch created the CA of a new mesh');
  // A Mesh update does not replace the CA.
  await store.update(mtlsMesh('m1', { dpCert: { rotation: { expiration: '3h' } } }));
  await comp.close();
  await store.close();

  store = new SqliteStore({ dir });
  t.teardown(() => store.close());
  const comp2 = new CaComponent({ store, ca: new BuiltinCaManager({ store, keyPoolSize: 0 }) });
  await comp2.start();
  t.teardown(() => comp2.close());
  const certAfter = (await store.get('Secret', { mesh: 'm1', name: 'm1.ca-builtin-cert-ca-1' }))!;
  t.equal(certAfter.spec.data, certBefore.spec.data, 'same CA after restart and mesh update');
  t.equal(certAfter.meta.version, certBefore.meta.version, 'secret not rewritten');
  const ca = new BuiltinCaManager({ store, keyPoolSize: 0 });
  const id = await ca.issue({ mesh: 'm1', tags: { 'kuma.io/service': ['web'] } });
  t.equal(id.caPem, Buffer.from(certBefore.spec.data, 'base64').toString());
  t.equal(id.notAfter.getTime() - id.notBefore.getTime(), 3 * 3_600_000 + 60_000, 'lifetime from dpCert.rotation.expiration (+ back-dated minute)');
  const r = ca.renewAt(id).getTime();
  t.ok(r > Date.now() && r < id.notAfter.getTime(), 'renewAt before expiry');
});

t.test('errors: mesh without mTLS, unknown mesh, half a CA, zone without synced CA', async (t) => {
  const store = new MemoryStore();
  await store.create({ type: 'Mesh', name: 'plain', spec: {} });
  const ca = new BuiltinCaManager({ store, keyPoolSize: 0 });
  await t.rejects(ca.caCertPem('plain'), { code: 'ERR_NOT_FOUND', message: /no mTLS/ });
  await t.rejects(ca.issue({ mesh: 'nope', tags: { 'kuma.io/service': ['a'] } }), { code: 'ERR_NOT_FOUND', message: /mesh "nope" not found/ });

  await store.create(mtlsMesh('half'));
  await store.create({ type: 'Secret', mesh: 'half', name: 'half.ca-builtin-cert-ca-1', spec: { data: Buffer.from('x').toString('base64') } });
  await t.rejects(ca.issue({ mesh: 'half', tags: { 'kuma.io/service': ['a'] } }), { code: 'ERR_CONFLICT', message: /half\.ca-builtin-key-ca-1/ });
  t.equal((await store.get('Secret', { mesh: 'half', name: 'half.ca-builtin-cert-ca-1' }))!.spec.data, Buffer.from('x').toString('base64'), 'not overwritten');

  await store.create(mtlsMesh('z'));
  const zoneCa = new BuiltinCaManager({ store, createMissing: false, keyPoolSize: 0 });
  await t.rejects(zoneCa.issue({ mesh: 'z', tags: { 'kuma.io/service': ['a'] } }), { code: 'ERR_NOT_FOUND', message: /received from global/ });
  t.equal((await store.list('Secret', { mesh: 'z' })).length, 0, 'a zone makes no CA of its own');
  // Once global's CA arrives (as KDS would write it), the zone issues under it.
  const globalCa = new BuiltinCaManager({ store, keyPoolSize: 0 });
  await globalCa.ensureCa('z', 'ca-1');
  const id = await zoneCa.issue({ mesh: 'z', tags: { 'kuma.io/service': ['a'] } });
  t.equal(id.caPem, await globalCa.caCertPem('z'));
});

t.test('concurrent ensureCa calls create one CA', async (t) => {
  const store = new MemoryStore();
  await store.create(mtlsMesh('m1'));
  const a = new BuiltinCaManager({ store, keyPoolSize: 0 });
  const b = new BuiltinCaManager({ store, keyPoolSize: 0 });
  await Promise.all([a.ensureCa('m1', 'ca-1'), a.ensureCa('m1', 'ca-1'), b.ensureCa('m1', 'ca-1')]);
  t.equal((await store.list('Secret', { mesh: 'm1' })).length, 2);
  t.equal(await a.caCertPem('m1'), await b.caCertPem('m1'));
});

t.test('a re-created CA replaces the cached one (cache keyed by content)', async (t) => {
  const store = new MemoryStore();
  await store.create(mtlsMesh('m1'));
  const ca = new BuiltinCaManager({ store, keyPoolSize: 0 });
  const first = await ca.caCertPem('m1');
  await store.transaction([
    { op: 'delete', type: 'Secret', key: { mesh: 'm1', name: 'm1.ca-builtin-cert-ca-1' } },
    { op: 'delete', type: 'Secret', key: { mesh: 'm1', name: 'm1.ca-builtin-key-ca-1' } },
  ]);
  const id = await ca.issue({ mesh: 'm1', tags: { 'kuma.io/service': ['a'] } });
  t.not(id.caPem, first, 'a new CA was made');
  t.equal(id.caPem, Buffer.from((await store.get('Secret', { mesh: 'm1', name: 'm1.ca-builtin-cert-ca-1' }))!.spec.data, 'base64').toString());
});

t.test('provided CA: an openssl-made CA from a secret or inline PEM signs identities', async (t) => {
  const dir = tempDir(t);
  const key = path.join(dir, 'ca.key');
  const crt = path.join(dir, 'ca.crt');
  const made = openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '30', '-subj', '/CN=provided-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  if (made.status !== 0) t.fail(`openssl req failed: ${made.out}`);
  const certPem = fs.readFileSync(crt, 'utf8');
  const keyPem = fs.readFileSync(key, 'utf8');
  const store = new MemoryStore();
  await store.create({ type: 'Secret', mesh: 'p1', name: 'my-ca-key', spec: { data: Buffer.from(keyPem).toString('base64') } });
  await store.create({
    type: 'Mesh',
    name: 'p1',
    spec: { mtls: { enabledBackend: 'ext', backends: [{ name: 'ext', type: 'provided', conf: { cert: { inlineString: certPem }, key: { secret: 'my-ca-key' } } }] } },
  });
  const ca = new BuiltinCaManager({ store, keyPoolSize: 0 });
  t.equal(await ca.caCertPem('p1'), certPem);
  const id = await ca.issue({ mesh: 'p1', tags: { 'kuma.io/service': ['web'] } });
  const leaf = write(dir, 'leaf.pem', id.certPem);
  const v = openssl(['verify', '-CAfile', crt, leaf]);
  t.equal(v.status, 0, v.out);
  t.equal((await store.list('Secret', { mesh: 'p1' })).length, 1, 'no builtin secrets made for a provided CA');

  await store.update({
    type: 'Mesh',
    name: 'p1',
    spec: { mtls: { enabledBackend: 'ext', backends: [{ name: 'ext', type: 'provided', conf: { cert: { inlineString: certPem }, key: { secret: 'missing' } } }] } },
  });
  await t.rejects(ca.issue({ mesh: 'p1', tags: { 'kuma.io/service': ['web'] } }), { code: 'ERR_NOT_FOUND', message: /"missing"/ });
});
