/**
 * Token signing keys in the store: an RSA pair per mesh (dataplane tokens) and one for
 * zone tokens, each as two secrets (private, public) with base64 PEM in `data`. Pairs
 * are created on first use; concurrent first uses share one creation, and a pair
 * created meanwhile by another writer wins over ours. Parsed keys are cached by the
 * secret's content.
 */
import crypto from 'node:crypto';
import { importPKCS8, importSPKI } from 'jose';
import { AuthError, ConflictError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { Resource, ResourceType } from '../../api/resource';
import type { ResourceStore } from '../store/store';
import { secretText } from './claims';

/** JWS algorithm of every token (RFC 7518 3.3). */
export const TOKEN_ALG = 'RS256';
/** RSA size of signing keys. */
export const SIGNING_KEY_BITS = 2048;

/** Where one signing pair lives. */
export interface KeyRef {
  type: Extract<ResourceType, 'Secret' | 'GlobalSecret'>;
  mesh?: string;
  privateName: string;
  publicName: string;
}

type Key = Awaited<ReturnType<typeof importSPKI>>;

/** Loads, caches and lazily creates signing keys. */
export class SigningKeys {
  // Keyed by content, not version: a secret deleted and re-created may restart version numbering.
  private readonly cache = new Map<string, { data: string; key: Key }>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly store: ResourceStore,
    private readonly log: Logger,
  ) {}

  private async get(type: KeyRef['type'], mesh: string | undefined, name: string): Promise<Resource | undefined> {
    return this.store.get(type, type === 'Secret' ? { mesh, name } : { name });
  }

  /** The private key of a pair, creating the pair when it does not exist. */
  async privateKey(ref: KeyRef): Promise<Key> {
    let r = await this.get(ref.type, ref.mesh, ref.privateName);
    if (!r) {
      await this.ensure(ref);
      r = await this.get(ref.type, ref.mesh, ref.privateName);
      if (!r) throw new ConflictError(`signing key ${ref.privateName} disappeared while being created`);
    }
    return this.parse(r, (pem) => importPKCS8(pem, TOKEN_ALG));
  }

  /** A public key by secret name, or undefined when there is no such secret. */
  async publicKey(type: KeyRef['type'], mesh: string | undefined, name: string): Promise<Key | undefined> {
    const r = await this.get(type, mesh, name);
    if (!r) return undefined;
    return this.parse(r, (pem) => importSPKI(pem, TOKEN_ALG));
  }

  private async parse(r: Resource, imp: (pem: string) => Promise<Key>): Promise<Key> {
    const cacheKey = `${r.meta.type}\n${r.meta.mesh ?? ''}\n${r.meta.name}`;
    const hit = this.cache.get(cacheKey);
    const data = String(r.spec?.data ?? '');
    if (hit && hit.data === data) return hit.key;
    let key: Key;
    try {
      key = await imp(secretText(r));
    } catch (err) {
      // A damaged key secret: every token it should verify is refused, with the reason.
      throw new AuthError(`signing key secret ${r.meta.name} is not a valid RSA key in PEM: ${(err as Error).message}`, 401, { cause: err });
    }
    this.cache.set(cacheKey, { data, key });
    return key;
  }

  private ensure(ref: KeyRef): Promise<void> {
    const k = `${ref.type}\n${ref.mesh ?? ''}\n${ref.privateName}`;
    const running = this.pending.get(k);
    if (running) return running;
    const p = this.create(ref).finally(() => this.pending.delete(k));
    this.pending.set(k, p);
    return p;
  }

  private async create(ref: KeyRef): Promise<void> {
    // On the thread pool: a 2048-bit key takes long enough to stall every stream if generated inline.
    const { privateKey, publicKey } = await new Promise<{ privateKey: string; publicKey: string }>((resolve, reject) =>
      crypto.generateKeyPair(
        'rsa',
        { modulusLength: SIGNING_KEY_BITS, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } },
        (err, publicKey, privateKey) => (err ? reject(err) : resolve({ privateKey, publicKey })),
      ),
    );
    const input = (name: string, pem: string) => ({
      type: ref.type,
      ...(ref.type === 'Secret' ? { mesh: ref.mesh } : {}),
      name,
      spec: { data: Buffer.from(pem).toString('base64') },
    });
    try {
      // Public first or private first does not matter: one transaction, all or nothing.
      await this.store.transaction([
        { op: 'create', input: input(ref.privateName, privateKey) },
        { op: 'upsert', input: input(ref.publicName, publicKey) },
      ]);
      this.log.info({ mesh: ref.mesh, secret: ref.privateName }, 'created token signing key');
    } catch (err) {
      if (err instanceof ConflictError) return; // created concurrently by another writer; use theirs
      throw err;
    }
  }
}
