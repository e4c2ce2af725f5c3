/**
 * Reads what the CA needs from a Mesh spec (Kuma's `mtls` block): the enabled backend,
 * its type, key size and lifetimes. Pure; the spec has been validated by api/validation,
 * but values are still checked here so a hand-written store entry cannot crash issuing.
 */
import { checkDuration, parseDuration } from '../../api/duration';

/** Default lifetime of a builtin CA certificate (Kuma: 10 years). */
export const DEFAULT_CA_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;
/** Default lifetime of an identity certificate (Kuma's `dpCert.rotation.expiration` default, 24h). */
export const DEFAULT_DP_CERT_LIFETIME_MS = 24 * 3600 * 1000;
/** Default RSA key size of a builtin CA. */
export const DEFAULT_RSA_BITS = 2048;

/** One mTLS backend as the CA uses it. */
export interface MtlsBackend {
  name: string;
  type: string;
  /** RSA key size of the CA key (builtin). */
  rsaBits: number;
  caLifetimeMs: number;
  dpCertLifetimeMs: number;
  /** The backend's free-form `conf` (for `provided`: cert and key data sources). */
  conf: Record<string, unknown>;
}

/** The mesh's mTLS settings: the enabled backend (if any) and every backend. */
export interface MeshMtls {
  enabled?: MtlsBackend;
  backends: MtlsBackend[];
}

function record(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function duration(v: unknown, fallback: number): number {
  if (typeof v !== 'string' || checkDuration(v) !== undefined) return fallback;
  const ms = parseDuration(v);
  return ms > 0 ? ms : fallback;
}

/** The backends of a Mesh spec and the enabled one; `enabled` is undefined when mTLS is off. */
export function meshMtls(spec: Record<string, unknown> | undefined): MeshMtls {
  const mtls = record(spec?.mtls);
  const backends: MtlsBackend[] = [];
  for (const raw of Array.isArray(mtls.backends) ? mtls.backends : []) {
    const b = record(raw);
    if (typeof b.name !== 'string' || b.name === '') continue;
    const conf = record(b.conf);
    const caCert = record(conf.caCert);
    const bits = typeof caCert.RSAbits === 'number' && [2048, 3072, 4096].includes(caCert.RSAbits) ? caCert.RSAbits : DEFAULT_RSA_BITS;
    backends.push({
      name: b.name,
      type: typeof b.type === 'string' ? b.type : '',
      rsaBits: bits,
      caLifetimeMs: duration(caCert.expiration, DEFAULT_CA_LIFETIME_MS),
      dpCertLifetimeMs: duration(record(record(b.dpCert).rotation).expiration, DEFAULT_DP_CERT_LIFETIME_MS),
      conf,
    });
  }
  const name = mtls.enabledBackend;
  return { enabled: typeof name === 'string' && name !== '' ? backends.find((b) => b.name === name) : undefined, backends };
}
