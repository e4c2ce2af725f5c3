/**
 * X.509 for the builtin CA: the self-signed mesh CA certificate and the SPIFFE identity
 * certificates it signs. Keys are generated natively (node:crypto, fast) and handed to
 * node-forge as PEM, which builds and signs the certificates. The clock is an argument,
 * so that these functions are deterministic apart from key material and serials.
 *
 * Profiles follow RFC 5280 and the SPIFFE X.509-SVID spec
 * (https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md): the CA has
 * basicConstraints cA=true and keyCertSign|cRLSign; a leaf has cA=false,
 * digitalSignature|keyEncipherment, serverAuth+clientAuth (mTLS both ways) and its
 * SPIFFE ID as the first URI SAN.
 */
import crypto from 'node:crypto';
import forge from 'node-forge';
import { SERVICE_TAG } from '../../lib/naming/tags';
import { kumaUris, spiffeId } from '../../lib/naming/spiffe';
import { ValidationError } from '../../lib/errors';
import type { IdentityCert } from './types';

/** How far notBefore is back-dated, so that peers whose clocks run a little behind accept a fresh certificate. */
export const CLOCK_SKEW_MS = 60_000;
/** Fraction of a certificate's life after which it is re-issued (Kuma rotates well before expiry). */
export const RENEW_FRACTION = 0.8;

/** A PEM key pair. */
export interface PemKeyPair {
  /** Private key, PEM: PKCS#1 for RSA, PKCS#8 for EC (both accepted by Envoy and Node TLS). */
  privateKeyPem: string;
  /** SPKI public key, PEM. */
  publicKeyPem: string;
}

/** Generates an RSA key pair natively (a 2048-bit key takes tens of ms, vs seconds in forge). */
export function generateRsaKeyPair(bits: number): PemKeyPair {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** Generates an RSA key pair on libuv's thread pool, so that the event loop keeps serving while it runs. */
export function generateRsaKeyPairAsync(bits: number): Promise<PemKeyPair> {
  return new Promise((resolve, reject) => {
    crypto.generateKeyPair(
      'rsa',
      { modulusLength: bits, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } },
      (err, publicKey, privateKey) => (err ? reject(err) : resolve({ privateKeyPem: privateKey, publicKeyPem: publicKey })),
    );
  });
}

/**
 * Key type of identity (leaf) keys. Kuma's builtin issuer uses RSA-2048
 * (pkg/core/ca/issuer: util_rsa.DefaultKeySize); ECDSA P-256 (RFC 5480) is the default
 * here because generating it costs ~0.1 ms instead of hundreds of ms of RSA on a busy
 * core, at a strength NIST SP 800-57 rates above RSA-2048 (128 vs 112 bits).
 */
export type IdentityKeyType = 'ecdsa-p256' | 'rsa-2048';
/** Valid identity key types, for validation messages. */
export const IDENTITY_KEY_TYPES: readonly IdentityKeyType[] = ['ecdsa-p256', 'rsa-2048'];
/** Default identity key type. */
export const DEFAULT_IDENTITY_KEY_TYPE: IdentityKeyType = 'ecdsa-p256';

/** Generates an ECDSA P-256 key pair (PKCS#8 private key). */
export function generateEcKeyPair(): PemKeyPair {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** Generates an identity key pair of the given type; RSA on libuv's thread pool, EC inline (it is cheap). */
export function generateIdentityKeyPair(type: IdentityKeyType): Promise<PemKeyPair> {
  if (type === 'rsa-2048') return generateRsaKeyPairAsync(2048);
  try {
    return Promise.resolve(generateEcKeyPair());
  } catch (err) {
    return Promise.reject(err);
  }
}

// forge's certificate object keeps these between sign() and certificateToAsn1(); its typings omit them.
interface ForgeCertInternals {
  siginfo: { algorithmOid: string };
  signatureOid: string;
  tbsCertificate: forge.asn1.Asn1;
  signature: string;
}

/**
 * Signs a forge-built certificate with sha256WithRSAEncryption using node:crypto, the
 * same steps as forge's cert.sign() (TBSCertificate DER, then the signature) but with
 * native RSA: forge's pure-JS signing costs tens of ms per certificate and blocks the
 * event loop.
 */
export function signCertificate(cert: forge.pki.Certificate, caKey: crypto.KeyObject, spkiDer?: Buffer): void {
  const c = cert as unknown as ForgeCertInternals;
  c.signatureOid = c.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  c.tbsCertificate = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  if (spkiDer) {
    // forge models only RSA public keys, so a non-RSA key is spliced in as the DER that
    // node:crypto exported: TBSCertificate (RFC 5280 4.1) is SEQUENCE { [0] version,
    // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ... }.
    const fields = c.tbsCertificate.value as forge.asn1.Asn1[];
    fields[6] = forge.asn1.fromDer(forge.util.createBuffer(spkiDer.toString('binary')), { decodeBitStrings: false } as unknown as boolean);
  }
  const der = Buffer.from(forge.asn1.toDer(c.tbsCertificate).getBytes(), 'binary');
  c.signature = crypto.sign('sha256', der, caKey).toString('binary');
}

/** A random positive 128-bit serial (RFC 5280 4.1.2.2: positive, at most 20 octets), hex. */
export function randomSerial(): string {
  const b = crypto.randomBytes(16);
  b[0] &= 0x7f;
  if (b[0] === 0) b[0] = 0x01; // keep 16 significant octets so DER needs no padding byte
  return b.toString('hex');
}

/** What a CA certificate is made of. */
export interface CaCertInput {
  mesh: string;
  backend: string;
  keys: PemKeyPair;
  now: Date;
  lifetimeMs: number;
  serial?: string;
}

/** A self-signed mesh CA certificate, PEM. */
export function createCaCertificate(input: CaCertInput): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(input.keys.publicKeyPem);
  cert.serialNumber = input.serial ?? randomSerial();
  cert.validity.notBefore = new Date(input.now.getTime() - CLOCK_SKEW_MS);
  cert.validity.notAfter = new Date(input.now.getTime() + input.lifetimeMs);
  const subject = [
    { name: 'commonName', value: input.mesh },
    { name: 'organizationName', value: 'Kuma' },
    { name: 'organizationalUnitName', value: `Mesh ${input.mesh}, backend ${input.backend}` },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    // The SPIFFE trust domain of this CA is the mesh (X509-SVID: a signing cert may carry one).
    { name: 'subjectAltName', altNames: [{ type: 6, value: `spiffe://${input.mesh}` }] },
  ]);
  signCertificate(cert, crypto.createPrivateKey(input.keys.privateKeyPem));
  return forge.pki.certificateToPem(cert);
}

/** A parsed CA, ready to sign. */
export interface SigningCa {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
  /** The same key for native signing. */
  keyObject: crypto.KeyObject;
  /** Subject key identifier of the CA (bytes), for leaves' authorityKeyIdentifier. */
  keyId: string;
  certPem: string;
}

/** Parses a CA certificate and key (PEM); ValidationError naming what is wrong. */
export function parseSigningCa(certPem: string, keyPem: string): SigningCa {
  let cert: forge.pki.Certificate;
  let key: forge.pki.rsa.PrivateKey;
  try {
    cert = forge.pki.certificateFromPem(certPem);
  } catch (err) {
    throw new ValidationError('invalid CA certificate', [{ field: 'cert', message: `not an RSA certificate in PEM: ${(err as Error).message}` }], { cause: err });
  }
  try {
    key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  } catch (err) {
    throw new ValidationError('invalid CA key', [{ field: 'key', message: `not an RSA private key in PEM: ${(err as Error).message}` }], { cause: err });
  }
  const pub = cert.publicKey as forge.pki.rsa.PublicKey;
  if (!pub.n || pub.n.compareTo(key.n) !== 0) {
    throw new ValidationError('invalid CA', [{ field: 'key', message: 'does not match the CA certificate public key' }]);
  }
  return { cert, key, keyObject: crypto.createPrivateKey(keyPem), keyId: cert.generateSubjectKeyIdentifier().getBytes(), certPem };
}

/** What an identity certificate is made of. */
export interface IdentityCertInput {
  ca: SigningCa;
  mesh: string;
  tags: Record<string, string[]>;
  keys: PemKeyPair;
  now: Date;
  lifetimeMs: number;
  serial?: string;
}

/**
 * URI SANs of an identity: the SPIFFE ID of every service (the first service first, as
 * the primary identity), then `kuma://<tag>/<value>` for every tag value, sorted.
 */
export function identityUris(mesh: string, tags: Record<string, string[]>): string[] {
  const services = tags[SERVICE_TAG] ?? [];
  const spiffe = [...new Set(services.map((s) => spiffeId(mesh, s)))];
  return [...spiffe, ...new Set(kumaUris(tags))];
}

/** A SPIFFE identity certificate signed by the mesh CA. */
export function createIdentityCertificate(input: IdentityCertInput): IdentityCert {
  const services = input.tags[SERVICE_TAG] ?? [];
  if (services.length === 0) {
    throw new ValidationError('cannot issue an identity certificate', [{ field: `tags["${SERVICE_TAG}"]`, message: 'needs at least one service (the SPIFFE ID is spiffe://<mesh>/<service>)' }]);
  }
  const cert = forge.pki.createCertificate();
  const leafKey = crypto.createPublicKey(input.keys.publicKeyPem);
  const rsa = leafKey.asymmetricKeyType === 'rsa';
  let spkiDer: Buffer | undefined;
  let ski: { name: string; value?: forge.asn1.Asn1 } = { name: 'subjectKeyIdentifier' };
  if (rsa) {
    cert.publicKey = forge.pki.publicKeyFromPem(input.keys.publicKeyPem);
  } else if (leafKey.asymmetricKeyType === 'ec' && leafKey.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    spkiDer = leafKey.export({ type: 'spki', format: 'der' });
    // Placeholder for forge's TBS builder; signCertificate replaces it with spkiDer.
    cert.publicKey = forge.pki.setRsaPublicKey(new forge.jsbn.BigInteger('1', 10), new forge.jsbn.BigInteger('65537', 10));
    // RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits, i.e. the uncompressed EC point 04||X||Y.
    const jwk = leafKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x as string, 'base64url'), Buffer.from(jwk.y as string, 'base64url')]);
    const id = crypto.createHash('sha1').update(point).digest('binary');
    ski = { name: 'subjectKeyIdentifier', value: forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, id) };
  } else {
    throw new ValidationError('cannot issue an identity certificate', [{ field: 'keys.publicKeyPem', message: `key type ${leafKey.asymmetricKeyType} is not supported; valid: RSA or EC P-256` }]);
  }
  cert.serialNumber = input.serial ?? randomSerial();
  const notBefore = new Date(input.now.getTime() - CLOCK_SKEW_MS);
  const notAfter = new Date(input.now.getTime() + input.lifetimeMs);
  // Never outlive the CA: a leaf past its issuer's notAfter fails verification anyway.
  const caNotAfter = input.ca.cert.validity.notAfter;
  const effectiveNotAfter = notAfter.getTime() > caNotAfter.getTime() ? caNotAfter : notAfter;
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = effectiveNotAfter;
  cert.setSubject([
    { name: 'organizationName', value: input.mesh },
    { name: 'commonName', value: services[0] },
  ]);
  cert.setIssuer(input.ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    // keyEncipherment applies to RSA key transport only (RFC 5480 3: not for ECDSA keys).
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: rsa, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    ski,
    { name: 'authorityKeyIdentifier', keyIdentifier: input.ca.keyId },
    { name: 'subjectAltName', altNames: identityUris(input.mesh, input.tags).map((value) => ({ type: 6, value })) },
  ]);
  signCertificate(cert, input.ca.keyObject, spkiDer);
  return {
    certPem: forge.pki.certificateToPem(cert),
    keyPem: input.keys.privateKeyPem,
    caPem: input.ca.certPem,
    notBefore,
    notAfter: effectiveNotAfter,
  };
}

/** When a certificate should be re-issued: 80% into its life, so rotation never races expiry. */
export function renewAt(cert: Pick<IdentityCert, 'notBefore' | 'notAfter'>): Date {
  const start = cert.notBefore.getTime();
  return new Date(start + Math.floor(RENEW_FRACTION * (cert.notAfter.getTime() - start)));
}
