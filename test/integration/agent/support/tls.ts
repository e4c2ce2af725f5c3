/** A throwaway CA-less server certificate for 127.0.0.1/localhost, made by the real openssl. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** PEMs of a self-signed server certificate (it is its own CA). */
export interface TestCert {
  cert: string;
  key: string;
  certFile: string;
}

/** Generates a P-256 self-signed certificate with SANs IP:127.0.0.1 and DNS:localhost. */
export function makeCert(dir: string, cn = 'kuma-cp-test'): TestCert {
  const keyFile = path.join(dir, `${cn}.key`);
  const certFile = path.join(dir, `${cn}.crt`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${cn}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-addext', 'basicConstraints=critical,CA:TRUE',
  ], { stdio: 'pipe' });
  return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8'), certFile };
}
