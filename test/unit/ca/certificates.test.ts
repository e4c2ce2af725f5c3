/** Pure certificate functions: CA and identity profiles, SAN order, lifetimes, renewAt. */
import crypto from 'node:crypto';
import t from 'tap';
import {
  createCaCertificate,
  createIdentityCertificate,
  generateRsaKeyPair,
  identityUris,
  parseSigningCa,
  renewAt,
  CLOCK_SKEW_MS,
} from '../../../cp/ca/certificates';
import { meshMtls, DEFAULT_DP_CERT_LIFETIME_MS, DEFAULT_CA_LIFETIME_MS } from '../../../cp/ca/mesh-mtls';

const now = new Date('2026-01-01T00:00:00Z');
const caKeys = generateRsaKeyPair(2048);
const caPem = createCaCertificate({ mesh: 'm1', backend: 'ca-1', keys: caKeys, now, lifetimeMs: DEFAULT_CA_LIFETIME_MS });
const ca = parseSigningCa(caPem, caKeys.privateKeyPem);

t.test('CA certificate: self-signed, CA:true, keyCertSign+cRLSign, names the mesh, 10y', async (t) => {
  const x = new crypto.X509Certificate(caPem);
  t.ok(x.ca, 'basicConstraints CA:true');
  t.ok(x.checkIssued(x), 'self-issued');
  t.ok(x.verify(x.publicKey), 'self-signed');
  t.match(x.subject, /CN=m1/);
  t.equal(new Date(x.validFrom).getTime(), now.getTime() - CLOCK_SKEW_MS);
  t.equal(new Date(x.validTo).getTime(), now.getTime() + DEFAULT_CA_LIFETIME_MS);
  t.ok(x.keyUsage === undefined || Array.isArray(x.keyUsage));
});

t.test('identity URIs: spiffe IDs of every service first, then sorted kuma:// tags', async (t) => {
  t.same(identityUris('m1', { 'kuma.io/service': ['web', 'api'], version: ['v2'], 'kuma.io/zone': ['z1'] }), [
    'spiffe://m1/web',
    'spiffe://m1/api',
    'kuma://kuma.io/service/api',
    'kuma://kuma.io/service/web',
    'kuma://kuma.io/zone/z1',
    'kuma://version/v2',
  ]);
});

t.test('identity certificate: SANs, leaf profile, lifetime, chain to the CA', async (t) => {
  const id = createIdentityCertificate({ ca, mesh: 'm1', tags: { 'kuma.io/service': ['backend'], version: ['v1'] }, keys: generateRsaKeyPair(2048), now, lifetimeMs: DEFAULT_DP_CERT_LIFETIME_MS });
  const x = new crypto.X509Certificate(id.certPem);
  t.equal(x.subjectAltName, 'URI:spiffe://m1/backend, URI:kuma://kuma.io/service/backend, URI:kuma://version/v1');
  t.notOk(x.ca);
  t.ok(x.verify(new crypto.X509Certificate(caPem).publicKey), 'signed by the mesh CA');
  t.ok(x.checkPrivateKey(crypto.createPrivateKey(id.keyPem)), 'key matches');
  t.same(x.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'EKU serverAuth + clientAuth');
  t.match(x.subject, /O=m1/);
  t.equal(id.notBefore.getTime(), now.getTime() - CLOCK_SKEW_MS);
  t.equal(id.notAfter.getTime(), now.getTime() + DEFAULT_DP_CERT_LIFETIME_MS);
  t.equal(new Date(x.validTo).getTime(), id.notAfter.getTime());
  t.equal(id.caPem, caPem);
  t.match(x.serialNumber, /^[0-9A-F]{32}$/, '16-byte serial');
  const other = createIdentityCertificate({ ca, mesh: 'm1', tags: { 'kuma.io/service': ['backend'] }, keys: generateRsaKeyPair(2048), now, lifetimeMs: 1000 });
  t.not(new crypto.X509Certificate(other.certPem).serialNumber, x.serialNumber, 'serials differ');
});

t.test('identity certificate never outlives its CA', async (t) => {
  const shortKeys = generateRsaKeyPair(2048);
  const shortCa = parseSigningCa(createCaCertificate({ mesh: 'm1', backend: 'b', keys: shortKeys, now, lifetimeMs: 3_600_000 }), shortKeys.privateKeyPem);
  const id = createIdentityCertificate({ ca: shortCa, mesh: 'm1', tags: { 'kuma.io/service': ['a'] }, keys: generateRsaKeyPair(2048), now, lifetimeMs: 24 * 3_600_000 });
  t.equal(id.notAfter.getTime(), now.getTime() + 3_600_000);
});

t.test('identity certificate needs a service', async (t) => {
  t.throws(() => createIdentityCertificate({ ca, mesh: 'm1', tags: { version: ['v1'] }, keys: caKeys, now, lifetimeMs: 1000 }), { code: 'ERR_VALIDATION', message: /kuma\.io\/service/ });
});

t.test('parseSigningCa refuses garbage and mismatched keys', async (t) => {
  t.throws(() => parseSigningCa('nope', caKeys.privateKeyPem), { code: 'ERR_VALIDATION', message: /certificate/ });
  t.throws(() => parseSigningCa(caPem, 'nope'), { code: 'ERR_VALIDATION', message: /key/ });
  t.throws(() => parseSigningCa(caPem, generateRsaKeyPair(2048).privateKeyPem), { code: 'ERR_VALIDATION', message: /does not match/ });
});

t.test('renewAt is 80% into the life', async (t) => {
  t.equal(renewAt({ notBefore: new Date(0), notAfter: new Date(100_000) }).getTime(), 80_000);
});

t.test('meshMtls reads the enabled backend, key size and lifetimes', async (t) => {
  const m = meshMtls({
    mtls: {
      enabledBackend: 'b2',
      backends: [
        { name: 'b1', type: 'builtin' },
        { name: 'b2', type: 'builtin', dpCert: { rotation: { expiration: '1h' } }, conf: { caCert: { RSAbits: 3072, expiration: '48h' } } },
      ],
    },
  });
  t.equal(m.enabled?.name, 'b2');
  t.equal(m.enabled?.rsaBits, 3072);
  t.equal(m.enabled?.dpCertLifetimeMs, 3_600_000);
  t.equal(m.enabled?.caLifetimeMs, 48 * 3_600_000);
  t.equal(m.backends[0].dpCertLifetimeMs, DEFAULT_DP_CERT_LIFETIME_MS);
  t.equal(meshMtls({}).enabled, undefined);
  t.equal(meshMtls({ mtls: { enabledBackend: 'x', backends: [] } }).enabled, undefined);
  t.equal(meshMtls({ mtls: { enabledBackend: 'b', backends: [{ name: 'b', type: 'builtin', dpCert: { rotation: { expiration: 'bogus' } } }] } }).enabled?.dpCertLifetimeMs, DEFAULT_DP_CERT_LIFETIME_MS);
});
