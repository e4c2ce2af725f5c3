/**
 * The per-mesh CA over the resource store. A builtin backend's certificate and key live
 * in two mesh-scoped Secrets with Kuma's names (`<mesh>.ca-builtin-cert-<backend>`,
 * `<mesh>.ca-builtin-key-<backend>`), so they survive restarts, show up in
 * `kumactl get secrets`, and travel to zones over KDS, where every zone then issues
 * identities under the same root (cross-zone mTLS verifies). A `provided` backend reads
 * the user's certificate and key from its data sources instead.
 *
 * Existing CA secrets are never overwritten: replacing a CA would make every identity
 * issued so far unverifiable.
 */
import fs from 'node:fs';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors';
import { silentLogger, type Logger } from '../../lib/logger';
import type { Resource } from '../../api/resource';
import type { ResourceStore } from '../store/store';
import {
  createCaCertificate,
  createIdentityCertificate,
  generateRsaKeyPairAsync,
  parseSigningCa,
  renewAt,
  DEFAULT_IDENTITY_KEY_TYPE,
  IDENTITY_KEY_TYPES,
  type IdentityKeyType,
  type SigningCa,
} from './certificates';
import { KeyPool } from './key-pool';
import { meshMtls, DEFAULT_RSA_BITS, DEFAULT_CA_LIFETIME_MS, type MtlsBackend } from './mesh-mtls';
import { caCertSecretName, caKeySecretName } from './names';
import type { CaManager, IdentityCert, IdentityRequest } from './types';

/** RSA size of identity (leaf) keys when identityKeyType is rsa-2048. */
export const IDENTITY_RSA_BITS = 2048;

/** Options of BuiltinCaManager. */
export interface BuiltinCaManagerOptions {
  store: ResourceStore;
  log?: Logger;
  /**
   * Whether missing CA secrets are created (default true). A zone CP sets false: its CA
   * comes from global over KDS, and a locally made one would diverge from every other zone.
   */
  createMissing?: boolean;
  /** Identity keys generated ahead (default 2); 0 generates each on demand (tests: no background work). */
  keyPoolSize?: number;
  /** Key type of identity (leaf) keys (default ecdsa-p256; the CA key stays RSA). */
  identityKeyType?: IdentityKeyType;
  /** Clock, for tests. */
  now?: () => Date;
}

interface CachedCa {
  versions: string;
  ca: SigningCa;
}

function decodeSecret(r: Resource, field: string): string {
  const data = r.spec?.data;
  if (typeof data !== 'string' || data === '') {
    throw new ValidationError(`secret ${r.meta.name} of mesh ${r.meta.mesh} is unusable`, [{ field, message: 'data must be non-empty base64' }]);
  }
  return Buffer.from(data, 'base64').toString('utf8');
}

/** CaManager for builtin (and provided) mesh CAs, stored as Secrets. */
export class BuiltinCaManager implements CaManager {
  private readonly store: ResourceStore;
  private readonly log: Logger;
  private readonly createMissing: boolean;
  private readonly now: () => Date;
  private readonly cache = new Map<string, CachedCa>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly leafKeys: KeyPool;

  constructor(opts: BuiltinCaManagerOptions) {
    this.store = opts.store;
    this.log = opts.log ?? silentLogger();
    this.createMissing = opts.createMissing ?? true;
    this.now = opts.now ?? (() => new Date());
    const keyType = opts.identityKeyType ?? DEFAULT_IDENTITY_KEY_TYPE;
    if (!IDENTITY_KEY_TYPES.includes(keyType)) {
      throw new ValidationError('invalid CA manager options', [{ field: 'identityKeyType', message: `${JSON.stringify(keyType)} is not one of ${IDENTITY_KEY_TYPES.join(', ')}` }]);
    }
    this.leafKeys = new KeyPool(keyType, opts.keyPoolSize ?? 2);
  }

  /** Creates the CA secrets of a builtin backend unless both exist; concurrent calls share one creation. */
  ensureCa(mesh: string, backend: string): Promise<void> {
    const key = `${mesh}\n${backend}`;
    const running = this.pending.get(key);
    if (running) return running;
    const p = this.doEnsure(mesh, backend).finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  private async doEnsure(mesh: string, backendName: string): Promise<void> {
    const certName = caCertSecretName(mesh, backendName);
    const keyName = caKeySecretName(mesh, backendName);
    const [cert, key] = await Promise.all([this.store.get('Secret', { mesh, name: certName }), this.store.get('Secret', { mesh, name: keyName })]);
    if (cert && key) return;
    if (cert || key) {
      // Half a CA: never guess, never overwrite. An operator has to restore or delete the other half.
      throw new ConflictError(`mesh ${mesh}: CA backend ${backendName} has ${cert ? certName : keyName} but not ${cert ? keyName : certName}; restore it or delete both to get a new CA`);
    }
    if (!this.createMissing) {
      throw new NotFoundError(`mesh ${mesh}: CA secrets ${certName} / ${keyName} have not been received from global yet`);
    }
    const meshRes = await this.store.get('Mesh', { name: mesh });
    const backend = meshMtls(meshRes?.spec).backends.find((b) => b.name === backendName);
    const bits = backend?.rsaBits ?? DEFAULT_RSA_BITS;
    const started = Date.now();
    const keys = await generateRsaKeyPairAsync(bits);
    const certPem = createCaCertificate({ mesh, backend: backendName, keys, now: this.now(), lifetimeMs: backend?.caLifetimeMs ?? DEFAULT_CA_LIFETIME_MS });
    try {
      await this.store.transaction([
        { op: 'create', input: { type: 'Secret', mesh, name: certName, spec: { data: Buffer.from(certPem).toString('base64') } } },
        { op: 'create', input: { type: 'Secret', mesh, name: keyName, spec: { data: Buffer.from(keys.privateKeyPem).toString('base64') } } },
      ]);
    } catch (err) {
      // Another writer (a second CP replica, KDS) got there first: theirs stands.
      if (err instanceof ConflictError) {
        this.log.info({ mesh, backend: backendName }, 'mesh CA was created concurrently; keeping the existing one');
        return;
      }
      throw err;
    }
    this.log.info({ mesh, backend: backendName, rsaBits: bits, ms: Date.now() - started }, 'created builtin mesh CA');
  }

  private async enabledBackend(mesh: string): Promise<MtlsBackend> {
    const m = await this.store.get('Mesh', { name: mesh });
    if (!m) throw new NotFoundError(`mesh ${JSON.stringify(mesh)} not found`);
    const { enabled } = meshMtls(m.spec);
    if (!enabled) throw new NotFoundError(`mesh ${mesh} has no mTLS enabled (mtls.enabledBackend is not set or names no backend)`);
    return enabled;
  }

  /** The signing CA of a mesh's enabled backend, creating a builtin one when allowed. */
  private async signingCa(mesh: string): Promise<{ backend: MtlsBackend; ca: SigningCa }> {
    const backend = await this.enabledBackend(mesh);
    if (backend.type === 'provided') return { backend, ca: await this.providedCa(mesh, backend) };
    if (backend.type !== 'builtin') throw new ValidationError(`mesh ${mesh}`, [{ field: 'mtls.backends.type', message: `CA type ${JSON.stringify(backend.type)} is not supported; use builtin or provided` }]);
    const certName = caCertSecretName(mesh, backend.name);
    const keyName = caKeySecretName(mesh, backend.name);
    let [cert, key] = await Promise.all([this.store.get('Secret', { mesh, name: certName }), this.store.get('Secret', { mesh, name: keyName })]);
    if (!cert || !key) {
      await this.ensureCa(mesh, backend.name);
      [cert, key] = await Promise.all([this.store.get('Secret', { mesh, name: certName }), this.store.get('Secret', { mesh, name: keyName })]);
      if (!cert || !key) throw new NotFoundError(`mesh ${mesh}: CA secrets ${certName} / ${keyName} are missing`);
    }
    const cacheKey = `${mesh}\n${backend.name}`;
    // Keyed by content, not version: a mesh deleted and re-created may restart version numbering.
    const versions = `${cert.spec.data}\n${key.spec.data}`;
    const hit = this.cache.get(cacheKey);
    if (hit && hit.versions === versions) return { backend, ca: hit.ca };
    const ca = parseSigningCa(decodeSecret(cert, `secrets.${certName}.data`), decodeSecret(key, `secrets.${keyName}.data`));
    this.cache.set(cacheKey, { versions, ca });
    return { backend, ca };
  }

  /** Reads a provided CA's certificate and key from Kuma data sources (secret, inline, inlineString, file). */
  private async providedCa(mesh: string, backend: MtlsBackend): Promise<SigningCa> {
    const read = async (part: 'cert' | 'key'): Promise<string> => {
      const field = `mtls.backends[${backend.name}].conf.${part}`;
      const src = backend.conf[part] as Record<string, unknown> | undefined;
      if (!src || typeof src !== 'object') throw new ValidationError(`mesh ${mesh}`, [{ field, message: 'is required for a provided CA' }]);
      if (typeof src.inlineString === 'string') return src.inlineString;
      if (typeof src.inline === 'string') return Buffer.from(src.inline, 'base64').toString('utf8');
      if (typeof src.secret === 'string') {
        const s = await this.store.get('Secret', { mesh, name: src.secret });
        if (!s) throw new NotFoundError(`mesh ${mesh}: ${field}.secret names secret ${JSON.stringify(src.secret)}, which does not exist`);
        return decodeSecret(s, `${field}.secret`);
      }
      if (typeof src.file === 'string') {
        try {
          return fs.readFileSync(src.file, 'utf8');
        } catch (err) {
          throw new NotFoundError(`mesh ${mesh}: cannot read ${field}.file ${src.file}: ${(err as Error).message}`, { cause: err });
        }
      }
      throw new ValidationError(`mesh ${mesh}`, [{ field, message: 'must have one of secret, inline, inlineString, file' }]);
    };
    const certPem = await read('cert');
    const keyPem = await read('key');
    const cacheKey = `${mesh}\n${backend.name}`;
    const versions = `provided\n${certPem}\n${keyPem}`;
    const hit = this.cache.get(cacheKey);
    if (hit && hit.versions === versions) return hit.ca;
    const ca = parseSigningCa(certPem, keyPem);
    this.cache.set(cacheKey, { versions, ca });
    return ca;
  }

  /** The CA certificate of the mesh's enabled backend; NotFoundError when mTLS is off. */
  async caCertPem(mesh: string): Promise<string> {
    return (await this.signingCa(mesh)).ca.certPem;
  }

  /** Issues an identity certificate (lifetime: req.lifetimeMs, else the backend's dpCert rotation, else 24h). */
  async issue(req: IdentityRequest): Promise<IdentityCert> {
    const { backend, ca } = await this.signingCa(req.mesh);
    const lifetimeMs = req.lifetimeMs ?? backend.dpCertLifetimeMs;
    if (!(lifetimeMs > 0)) throw new ValidationError('cannot issue an identity certificate', [{ field: 'lifetimeMs', message: `must be positive, got ${lifetimeMs}` }]);
    return createIdentityCertificate({ ca, mesh: req.mesh, tags: req.tags, keys: await this.leafKeys.take(), now: this.now(), lifetimeMs });
  }

  /** When a certificate from issue() should be replaced (80% of its life). */
  renewAt(cert: Pick<IdentityCert, 'notBefore' | 'notAfter'>): Date {
    return renewAt(cert);
  }
}
