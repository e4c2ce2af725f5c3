/**
 * The DP server's TLS identity: the operator's certificate (KUMA_GENERAL_TLS_CERT_FILE /
 * KUMA_GENERAL_TLS_KEY_FILE), or else a self-signed CA and a server certificate that
 * the CP generates into its work dir on first start and reuses afterwards. kuma-dp
 * trusts the CA (`--ca-cert-file`); the bootstrap carries it to the proxy.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import { UsageError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';

/** PEMs the DP server serves with, and where they live. */
export interface DpServerTls {
  certPem: string;
  keyPem: string;
  /** The CA that kuma-dp must trust (the generated CA, or the operator's cert chain). */
  caPem: string;
  certFile: string;
  keyFile: string;
  caFile?: string;
}

/** Generated files, relative to the work dir. */
export const GENERATED = { dir: 'dp-server-tls', ca: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

function keyPair(): { pub: forge.pki.PublicKey; priv: forge.pki.PrivateKey; privPem: string } {
  // Node generates the key (fast, native); forge builds and signs the certificates.
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const priv = forge.pki.privateKeyFromPem(privPem);
  const pub = forge.pki.setRsaPublicKey((priv as forge.pki.rsa.PrivateKey).n, (priv as forge.pki.rsa.PrivateKey).e);
  return { pub, priv, privPem };
}

function serial(): string {
  return '01' + crypto.randomBytes(15).toString('hex');
}

/** Generates a CA and a server certificate for the given host names and IPs. */
export function generateDpServerCerts(hosts: string[], now = new Date()): { caPem: string; caKeyPem: string; certPem: string; keyPem: string } {
  const ca = keyPair();
  const caCert = forge.pki.createCertificate();
  caCert.publicKey = ca.pub;
  caCert.serialNumber = serial();
  caCert.validity.notBefore = new Date(now.getTime() - 60_000);
  caCert.validity.notAfter = new Date(now.getTime() + 10 * 365 * 24 * 3600_000);
  const caName = [{ name: 'commonName', value: 'kuma-cp dp-server CA' }];
  caCert.setSubject(caName);
  caCert.setIssuer(caName);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.priv as forge.pki.rsa.PrivateKey, forge.md.sha256.create());

  const srv = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = srv.pub;
  cert.serialNumber = serial();
  cert.validity.notBefore = caCert.validity.notBefore;
  cert.validity.notAfter = new Date(now.getTime() + 5 * 365 * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: hosts[0] ?? 'localhost' }]);
  cert.setIssuer(caName);
  const altNames = hosts.map((h) => (/^[\d.]+$/.test(h) || h.includes(':') ? { type: 7, ip: h } : { type: 2, value: h }));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  cert.sign(ca.priv as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { caPem: forge.pki.certificateToPem(caCert), caKeyPem: ca.privPem, certPem: forge.pki.certificateToPem(cert), keyPem: srv.privPem };
}

/** Loads the operator's certificate, or generates (once) and loads the work dir's. */
export function ensureDpServerTls(o: { workDir: string; certFile?: string; keyFile?: string; log: Logger }): DpServerTls {
  if (o.certFile || o.keyFile) {
    if (!o.certFile || !o.keyFile) throw new UsageError('KUMA_GENERAL_TLS_CERT_FILE and KUMA_GENERAL_TLS_KEY_FILE must be set together');
    let certPem: string;
    let keyPem: string;
    try {
      certPem = fs.readFileSync(o.certFile, 'utf8');
      keyPem = fs.readFileSync(o.keyFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read the DP server TLS files: ${(err as Error).message}`, { cause: err });
    }
    o.log.info({ certFile: o.certFile, keyFile: o.keyFile }, 'DP server uses the configured TLS certificate');
    return { certPem, keyPem, caPem: certPem, certFile: o.certFile, keyFile: o.keyFile };
  }
  const dir = path.join(o.workDir, GENERATED.dir);
  const f = (n: string) => path.join(dir, n);
  if (![GENERATED.ca, GENERATED.cert, GENERATED.key].every((n) => fs.existsSync(f(n)))) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const g = generateDpServerCerts(['localhost', os.hostname(), '127.0.0.1', '::1']);
    fs.writeFileSync(f(GENERATED.caKey), g.caKeyPem, { mode: 0o600 });
    fs.writeFileSync(f(GENERATED.key), g.keyPem, { mode: 0o600 });
    fs.writeFileSync(f(GENERATED.cert), g.certPem);
    fs.writeFileSync(f(GENERATED.ca), g.caPem);
    o.log.info({ caFile: f(GENERATED.ca), certFile: f(GENERATED.cert), keyFile: f(GENERATED.key) }, 'generated a self-signed CA and DP server certificate; give kuma-dp --ca-cert-file the CA');
  } else {
    o.log.info({ caFile: f(GENERATED.ca), certFile: f(GENERATED.cert), keyFile: f(GENERATED.key) }, 'DP server TLS files loaded from the work dir');
  }
  return {
    certPem: fs.readFileSync(f(GENERATED.cert), 'utf8'),
    keyPem: fs.readFileSync(f(GENERATED.key), 'utf8'),
    caPem: fs.readFileSync(f(GENERATED.ca), 'utf8'),
    certFile: f(GENERATED.cert),
    keyFile: f(GENERATED.key),
    caFile: f(GENERATED.ca),
  };
}
