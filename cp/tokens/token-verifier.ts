/**
 * Verifies tokens with public keys only (so a zone verifies what global signed, having
 * received just the public keys over KDS). Order: parse, pick the key the token names,
 * check signature and expiry, check revocation, then compare claims with what the
 * caller expects. 401 for anything that makes the token itself unacceptable, 403 for a
 * good token presented for the wrong mesh, name, zone or kind.
 */
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { AuthError } from '../../lib/errors';
import { silentLogger, type Logger } from '../../lib/logger';
import type { ResourceStore } from '../store/store';
import { checkExpectation, readClaims, revokedIds, type TokenExpectation } from './claims';
import { dataplanePublicKeyName, isDataplanePublicKeyName, revocationListOf, ZONE_PUBLIC_KEY } from './names';
import { SigningKeys, TOKEN_ALG } from './signing-keys';
import type { TokenClaims, TokenVerifier } from './types';

/** Longest token accepted (a JWT with a few tags is well under 2 KiB). */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** Options of StoreTokenVerifier. */
export interface StoreTokenVerifierOptions {
  log?: Logger;
  now?: () => Date;
}

/** TokenVerifier over the store's public-key and revocation secrets. */
export class StoreTokenVerifier implements TokenVerifier {
  private readonly keys: SigningKeys;
  private readonly now: () => Date;

  constructor(
    private readonly store: ResourceStore,
    opts: StoreTokenVerifierOptions = {},
  ) {
    this.keys = new SigningKeys(store, opts.log ?? silentLogger());
    this.now = opts.now ?? (() => new Date());
  }

  /** Verifies a token; AuthError 401 (malformed, bad signature, expired, revoked, unknown key) or 403 (wrong mesh/name/zone/kind). */
  async verify(token: string, expect: TokenExpectation): Promise<TokenClaims & { scope?: string[] }> {
    if (typeof token !== 'string' || token.length === 0) throw new AuthError('malformed token: empty');
    if (token.length > MAX_TOKEN_LENGTH) throw new AuthError(`malformed token: longer than ${MAX_TOKEN_LENGTH} characters`);
    let kid: unknown;
    let unverified: Record<string, unknown>;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== TOKEN_ALG) throw new Error(`algorithm ${JSON.stringify(header.alg)} is not ${TOKEN_ALG}`);
      kid = header.kid;
      unverified = decodeJwt(token) as Record<string, unknown>;
    } catch (err) {
      throw new AuthError(`malformed token: ${(err as Error).message}`, 401, { cause: err });
    }
    // The claims pick the key; nothing in them is trusted until the signature checks out.
    const claimed = readClaims(unverified);
    let key;
    let keyName: string;
    if (claimed.kind === 'zone') {
      keyName = ZONE_PUBLIC_KEY;
      key = await this.keys.publicKey('GlobalSecret', undefined, keyName);
    } else {
      const mesh = claimed.mesh!;
      keyName = typeof kid === 'string' ? kid : dataplanePublicKeyName(mesh);
      if (!isDataplanePublicKeyName(mesh, keyName)) throw new AuthError(`malformed token: key id ${JSON.stringify(kid)} is not a dataplane-token key of mesh ${JSON.stringify(mesh)}`);
      key = await this.keys.publicKey('Secret', mesh, keyName);
    }
    if (!key) {
      throw new AuthError(`token signed with unknown key: no public key secret ${keyName}${claimed.mesh ? ` in mesh ${claimed.mesh}` : ''} on this control plane`);
    }
    let payload: Record<string, unknown>;
    try {
      payload = (await jwtVerify(token, key, { algorithms: [TOKEN_ALG], currentDate: this.now(), requiredClaims: ['exp', 'jti'] })).payload as Record<string, unknown>;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') {
        const exp = typeof unverified.exp === 'number' ? new Date(unverified.exp * 1000).toISOString() : 'unknown';
        throw new AuthError(`token expired at ${exp}`, 401, { cause: err });
      }
      if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw new AuthError('token signature is invalid', 401, { cause: err });
      throw new AuthError(`malformed token: ${(err as Error).message}`, 401, { cause: err });
    }
    const claims = readClaims(payload);
    const list = revocationListOf(claims);
    const revocations = await this.store.get(list.type, { mesh: list.mesh, name: list.name });
    if (revocations && revokedIds(revocations).has(claims.id)) {
      throw new AuthError(`token ${claims.id} has been revoked (listed in ${revocations.meta.name})`);
    }
    checkExpectation(claims, expect);
    return claims;
  }
}
