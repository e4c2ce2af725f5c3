/**
 * SDS with the real builtin CA (cp/ca BuiltinCaManager): the identity certificate a
 * proxy receives chains to its mesh CA, carries its SPIFFE ID, matches its key, is
 * renewed (a new Secret is pushed) at the CA's renewAt, and never verifies against
 * another mesh's CA.
 */
import crypto from 'node:crypto';
import t from 'tap';
import { GrpcH2Server } from '../../../cp/xds/server/grpc-h2';
import { silentLogger } from '../../../lib/logger';
import { MemoryStore } from '../../../cp/store/memory-store';
import { BuiltinCaManager } from '../../../cp/ca/builtin-ca-manager';
import { XdsServer } from '../../../cp/xds/server/xds-server';
import { TypeUrl } from '../../../proto/index';
import { AdsTestClient } from './ads-test-client';

const mtls = (expiration: string) => ({ mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin', dpCert: { rotation: { expiration } } }] } });

t.test('identity certificates over SDS', async (t) => {
  const store = new MemoryStore();
  // CLOCK_SKEW backdates notBefore by 60 s: with an 18 s lifetime, renewAt is ~2.4 s after issue.
  await store.create({ type: 'Mesh', name: 'secure', spec: mtls('18s') });
  await store.create({ type: 'Mesh', name: 'other', spec: mtls('24h') });
  await store.create({ type: 'Dataplane', mesh: 'secure', name: 'web-1', spec: { networking: { address: '127.0.0.2', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'web' } }] } } });
  await store.create({ type: 'Dataplane', mesh: 'other', name: 'web-1', spec: { networking: { address: '127.0.0.3', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'web' } }] } } });
  const ca = new BuiltinCaManager({ store });
  const xds = new XdsServer({ store, log: silentLogger(), cp: { zone: 'zone-1', vipPort: 80 }, authn: 'none', ca, debounceMs: 20 });
  await xds.start();
  const server = new GrpcH2Server({ methods: xds.ads.methods(), log: silentLogger() });
  const port = await server.listen('127.0.0.1', 0);
  const a = new AdsTestClient(`127.0.0.1:${port}`, { id: 'secure.web-1' });
  const b = new AdsTestClient(`127.0.0.1:${port}`, { id: 'other.web-1' });
  t.teardown(async () => {
    a.close();
    b.close();
    await xds.close();
    server.destroy();
  });
  a.request(TypeUrl.Secret, ['identity_cert', 'mesh_ca']);
  b.request(TypeUrl.Secret, ['identity_cert', 'mesh_ca']);
  const s1 = await a.next(TypeUrl.Secret, 0, 10_000);
  const sb = await b.next(TypeUrl.Secret, 0, 10_000);
  t.same(s1.names, ['identity_cert', 'mesh_ca']);
  const secrets = (r: typeof s1) => Object.fromEntries(r.resources.map((x) => [x.name, x]));
  const sa = secrets(s1);
  const leaf = new crypto.X509Certificate(sa.identity_cert.tls_certificate.certificate_chain.inline_string);
  const caCert = new crypto.X509Certificate(sa.mesh_ca.validation_context.trusted_ca.inline_string);
  t.ok(leaf.verify(caCert.publicKey), 'identity certificate is signed by the mesh CA');
  t.match(leaf.subjectAltName, /URI:spiffe:\/\/secure\/web/, 'SPIFFE ID of the service');
  t.ok(leaf.checkPrivateKey(crypto.createPrivateKey(sa.identity_cert.tls_certificate.private_key.inline_string)), 'key matches the certificate');
  const other = secrets(sb);
  const otherLeaf = new crypto.X509Certificate(other.identity_cert.tls_certificate.certificate_chain.inline_string);
  t.notOk(otherLeaf.verify(caCert.publicKey), 'another mesh\'s identity does not verify against this mesh\'s CA');
  t.match(otherLeaf.subjectAltName, /spiffe:\/\/other\/web/);

  a.request(TypeUrl.Secret, ['identity_cert', 'mesh_ca'], s1);
  const s2 = await a.next(TypeUrl.Secret, 1, 8000);
  const renewed = new crypto.X509Certificate(secrets(s2).identity_cert.tls_certificate.certificate_chain.inline_string);
  t.not(renewed.serialNumber, leaf.serialNumber, 'a renewed certificate is pushed at renewAt');
  t.ok(renewed.verify(caCert.publicKey));
  t.ok(new Date(renewed.validTo) > new Date(leaf.validTo), 'the renewed certificate lives longer');
  t.same(a.violations, []);
});
