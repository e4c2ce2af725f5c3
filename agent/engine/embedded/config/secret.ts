/**
 * SDS Secret -> SecretModel. The PEM is checked here by building a secure context
 * (pure in effect: no I/O), so a bad certificate draws a NACK instead of failing
 * every later handshake.
 */
import tls from 'node:tls';
import { Checker, join } from './checker';
import type { SecretModel } from './model';

function dataSource(c: Checker, ds: any, path: string): string | undefined {
  c.only(ds, path, ['inline_string', 'inline_bytes']);
  if (typeof ds?.inline_string === 'string') return ds.inline_string;
  if (ds?.inline_bytes) return Buffer.from(ds.inline_bytes).toString('utf8');
  c.add(path, 'needs inline_string or inline_bytes (files are not read)');
  return undefined;
}

/** Translates one Secret. */
export function translateSecret(c: Checker, s: any): SecretModel | undefined {
  c.only(s, '', ['name', 'tls_certificate', 'validation_context']);
  if (!s?.name) {
    c.add('name', 'not set');
    return undefined;
  }
  const out: SecretModel = { name: s.name };
  if (s.tls_certificate) {
    c.only(s.tls_certificate, 'tls_certificate', ['certificate_chain', 'private_key']);
    const chain = dataSource(c, s.tls_certificate.certificate_chain, 'tls_certificate.certificate_chain');
    const key = dataSource(c, s.tls_certificate.private_key, 'tls_certificate.private_key');
    if (chain && key) {
      try {
        tls.createSecureContext({ cert: chain, key });
        out.cert = { chain, key };
      } catch (err) {
        c.add('tls_certificate', `certificate chain and private key are unusable: ${(err as Error).message}`);
      }
    }
  } else if (s.validation_context) {
    const vp = 'validation_context';
    c.only(s.validation_context, vp, ['trusted_ca']);
    const ca = dataSource(c, s.validation_context.trusted_ca, join(vp, 'trusted_ca'));
    if (ca) {
      try {
        tls.createSecureContext({ ca });
        out.ca = ca;
      } catch (err) {
        c.add(join(vp, 'trusted_ca'), `unusable CA certificate: ${(err as Error).message}`);
      }
    }
  } else {
    c.add('', 'needs tls_certificate or validation_context');
  }
  return out;
}
