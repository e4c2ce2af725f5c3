/**
 * A test mesh CA: RSA keys from node:crypto (fast), certificates signed with
 * node-forge, SPIFFE URI SANs like the builtin CA issues.
 */
import crypto from 'node:crypto';
import forge from 'node-forge';

/** A certificate with its key, PEM. */
export interface Issued {
  certPem: string;
  keyPem: string;
  serial: string;
}

/** A CA that can issue identities. */
export interface TestCa extends Issued {
  issue(opts: { cn: string; uris?: string[]; ips?: string[]; dns?: string[]; days?: number }): Issued;
}

let serialCounter = Date.now();

function newKeys(): { pub: forge.pki.PublicKey; priv: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    pub: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    priv: forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey,
    keyPem,
  };
}

function baseCert(pub: forge.pki.PublicKey, cn: string, days: number): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = pub;
  // DER INTEGER: a leading 0x00 before a byte < 0x80 is illegal padding, so start with 0x01.
  c.serialNumber = '01' + (serialCounter++).toString(16).padStart(14, '0');
  c.validity.notBefore = new Date(Date.now() - 60_000);
  c.validity.notAfter = new Date(Date.now() + days * 86_400_000);
  c.setSubject([{ name: 'commonName', value: cn }]);
  return c;
}

/** Creates a self-signed CA for `mesh`. */
export function createCa(mesh: string): TestCa {
  const k = newKeys();
  const c = baseCert(k.pub, `${mesh} CA`, 10);
  c.setIssuer(c.subject.attributes);
  c.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: `spiffe://${mesh}` }] },
  ]);
  c.sign(k.priv, forge.md.sha256.create());
  const ca: TestCa = {
    certPem: forge.pki.certificateToPem(c),
    keyPem: k.keyPem,
    serial: c.serialNumber,
    issue(o) {
      const ik = newKeys();
      const ic = baseCert(ik.pub, o.cn, o.days ?? 1);
      ic.setIssuer(c.subject.attributes);
      const altNames: any[] = [];
      for (const u of o.uris ?? []) altNames.push({ type: 6, value: u });
      for (const d of o.dns ?? []) altNames.push({ type: 2, value: d });
      for (const ip of o.ips ?? []) altNames.push({ type: 7, ip });
      ic.setExtensions([
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
        { name: 'subjectAltName', altNames },
      ]);
      ic.sign(k.priv, forge.md.sha256.create());
      return { certPem: forge.pki.certificateToPem(ic), keyPem: ik.keyPem, serial: ic.serialNumber };
    },
  };
  return ca;
}

/** A workload identity of the mesh (`spiffe://mesh/service` plus `kuma://kuma.io/service/<service>`). */
export function identity(ca: TestCa, mesh: string, service: string): Issued {
  return ca.issue({ cn: service, uris: [`spiffe://${mesh}/${service}`, `kuma://kuma.io/service/${service}`] });
}
