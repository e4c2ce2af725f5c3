/**
 * Secure contexts built from SDS secrets. A secret whose content changes gets a new
 * generation, and contexts are cached per generation, so a rotated identity reaches
 * new connections while open sockets keep the context they were made with.
 */
import tls from 'node:tls';
import type { SecretModel, StringMatch, TlsClientModel, TlsServerModel } from '../config/model';
import { stringMatches } from '../config/tls';
import { uriSans } from './san';

/** Holds the applied secrets and the contexts made from them. */
export class SecretStore {
  private secrets = new Map<string, SecretModel>();
  private generations = new Map<string, number>();
  private gen = 0;
  private cache = new Map<string, tls.SecureContext>();

  /** Takes the secrets of a new config; returns the names whose content changed. */
  update(next: Map<string, SecretModel>): string[] {
    const changed: string[] = [];
    for (const [name, s] of next) {
      const old = this.secrets.get(name);
      if (!old || old.cert?.chain !== s.cert?.chain || old.cert?.key !== s.cert?.key || old.ca !== s.ca) {
        this.generations.set(name, ++this.gen);
        changed.push(name);
      }
    }
    for (const name of this.secrets.keys()) if (!next.has(name)) changed.push(name);
    this.secrets = next;
    if (changed.length) this.cache.clear();
    return changed.sort();
  }

  /** True when every named secret is present (otherwise the user is warming). */
  has(...names: (string | undefined)[]): boolean {
    return names.every((n) => n === undefined || this.secrets.has(n));
  }

  /** A key that changes whenever any of the named secrets changes. */
  fingerprint(...names: (string | undefined)[]): string {
    return names.map((n) => (n === undefined ? '-' : `${n}@${this.generations.get(n) ?? 0}`)).join('|');
  }

  /** Options for a server (tls.Server / setSecureContext). Undefined when a secret is missing. */
  serverOptions(m: TlsServerModel): tls.SecureContextOptions | undefined {
    const id = this.secrets.get(m.certSecret)?.cert;
    const ca = m.caSecret ? this.secrets.get(m.caSecret)?.ca : undefined;
    if (!id || (m.caSecret && !ca)) return undefined;
    return { cert: id.chain, key: id.key, ca };
  }

  /** A client context (identity + trusted CA), cached per secret generation. */
  clientContext(m: TlsClientModel): tls.SecureContext | undefined {
    const key = this.fingerprint(m.certSecret, m.caSecret);
    let ctx = this.cache.get(key);
    if (ctx) return ctx;
    const id = m.certSecret ? this.secrets.get(m.certSecret)?.cert : undefined;
    const ca = m.caSecret ? this.secrets.get(m.caSecret)?.ca : undefined;
    if ((m.certSecret && !id) || (m.caSecret && !ca)) return undefined;
    ctx = tls.createSecureContext({ cert: id?.chain, key: id?.key, ca });
    this.cache.set(key, ctx);
    return ctx;
  }

  /** The secrets as applied (for config_dump; keys are redacted). */
  dump(): Record<string, unknown>[] {
    return [...this.secrets.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((s) => ({ name: s.name, generation: this.generations.get(s.name), ...(s.cert ? { certificate_chain: s.cert.chain, private_key: '[redacted]' } : {}), ...(s.ca ? { trusted_ca: s.ca } : {}) }));
  }
}

/** Explains why a peer's URI SANs match none of the matchers, or undefined when one matches (or there are none). */
export function checkSans(matchers: readonly StringMatch[], uris: readonly string[]): string | undefined {
  if (matchers.length === 0) return undefined;
  for (const u of uris) for (const m of matchers) if (stringMatches(m, u)) return undefined;
  return `peer URI SANs [${uris.join(', ')}] match none of ${matchers.map((m) => `${m.kind}:${m.value}`).join(', ')}`;
}

/** URI SANs of a TLS socket's peer. */
export function peerUris(sock: tls.TLSSocket): string[] {
  const cert = sock.getPeerCertificate();
  return uriSans(cert && (cert as tls.PeerCertificate).subjectaltname);
}
