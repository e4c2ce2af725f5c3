/**
 * The control plane's own TLS certificate (KDS server; the DP server may share it):
 * KUMA_GENERAL_TLS_CERT_FILE / _KEY_FILE when configured, otherwise a self-signed
 * certificate generated once into the work dir and reused on every restart, so that
 * zones trusting it (KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE) keep trusting it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import forge from 'node-forge';

/** File names of the generated certificate and key in the work dir. */
export const GENERATED_CERT_FILE = 'kuma-cp.crt';
export const GENERATED_KEY_FILE = 'kuma-cp.key';

/** A PEM certificate and key, and where they came from. */
export interface CpTls {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
}

/** Creates a self-signed server certificate valid for localhost, loopback and this host's name. */
export function generateSelfSignedCert(hostnames: string[] = []): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = `01${crypto.randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 24 * 3600_000);
  const attrs = [{ name: 'commonName', value: 'kuma-control-plane' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  const dns = [...new Set(['localhost', os.hostname(), ...hostnames])];
  cert.setExtensions([
    // Self-signed and used as its own trust anchor by zones: it must be a CA too.
    { name: 'basicConstraints', cA: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [...dns.map((value) => ({ type: 2, value })), { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }],
    },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/** Loads the configured certificate, or generates (once) and reuses one in the work dir. */
export function loadOrCreateCpTls(workDir: string, certFile?: string, keyFile?: string): CpTls {
  if (certFile && keyFile) {
    return { certPem: fs.readFileSync(certFile, 'utf8'), keyPem: fs.readFileSync(keyFile, 'utf8'), certFile, keyFile };
  }
  const c = path.join(workDir, GENERATED_CERT_FILE);
  const k = path.join(workDir, GENERATED_KEY_FILE);
  if (fs.existsSync(c) && fs.existsSync(k)) {
    return { certPem: fs.readFileSync(c, 'utf8'), keyPem: fs.readFileSync(k, 'utf8'), certFile: c, keyFile: k };
  }
  const { certPem, keyPem } = generateSelfSignedCert();
  fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
  // Key first and both via rename, so that a crash never leaves a cert without its key.
  for (const [file, pem, mode] of [[k, keyPem, 0o600], [c, certPem, 0o644]] as const) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, pem, { mode });
    fs.renameSync(tmp, file);
  }
  return { certPem, keyPem, certFile: c, keyFile: k };
}
