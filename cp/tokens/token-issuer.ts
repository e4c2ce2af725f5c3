/**
 * Issues tokens: dataplane and ingress tokens signed with the mesh's key, zone tokens
 * signed with the zone-token key. JWT RS256 (RFC 7519), claims `kind`, `mesh`, `name`,
 * `tags`, `zone`, `scope` plus `jti` (for revocation), `iat` and `exp`; the header's
 * `kid` names the public-key secret that verifies it.
 */
import crypto from 'node:crypto';
import { SignJWT } from 'jose';
import { NotFoundError, ValidationError } from '../../lib/errors';
import { silentLogger, type Logger } from '../../lib/logger';
import type { ResourceStore } from '../store/store';
import type { TokenPayload } from './claims';
import { dataplanePublicKeyName, dataplaneSigningKeyName, ZONE_PUBLIC_KEY, ZONE_SIGNING_KEY } from './names';
import { SigningKeys, TOKEN_ALG, type KeyRef } from './signing-keys';

/** Options of TokenIssuer. */
export interface TokenIssuerOptions {
  store: ResourceStore;
  /** Set on a zone CP: its dataplane keys get zone-suffixed names (see names.ts). */
  zone?: string;
  log?: Logger;
  now?: () => Date;
}

/** A dataplane or ingress token request. */
export interface DataplaneTokenRequest {
  mesh: string;
  /** Binds the token to one proxy name; absent: valid for any proxy of the mesh. */
  name?: string;
  tags?: Record<string, string[]>;
  type: 'dataplane' | 'ingress';
  validForMs: number;
}

/** A zone token request. */
export interface ZoneTokenRequest {
  zone: string;
  scope: ('cp' | 'ingress')[];
  validForMs: number;
}

/** Signs dataplane, ingress and zone tokens, creating signing keys lazily. */
export class TokenIssuer {
  private readonly keys: SigningKeys;
  private readonly now: () => Date;

  constructor(private readonly opts: TokenIssuerOptions) {
    this.keys = new SigningKeys(opts.store, opts.log ?? silentLogger());
    this.now = opts.now ?? (() => new Date());
  }

  private async sign(ref: KeyRef, payload: TokenPayload, validForMs: number): Promise<string> {
    if (!Number.isFinite(validForMs) || validForMs <= 0) {
      throw new ValidationError('invalid token request', [{ field: 'validFor', message: `must be a positive duration, got ${validForMs}ms` }]);
    }
    const key = await this.keys.privateKey(ref);
    const iat = Math.floor(this.now().getTime() / 1000);
    return new SignJWT({ ...payload })
      .setProtectedHeader({ alg: TOKEN_ALG, typ: 'JWT', kid: ref.publicName })
      .setJti(crypto.randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.max(1, Math.round(validForMs / 1000)))
      .sign(key);
  }

  /** A dataplane (or ingress) token for a mesh; NotFoundError when the mesh does not exist. */
  async issueDataplane(req: DataplaneTokenRequest): Promise<string> {
    if (!(await this.opts.store.get('Mesh', { name: req.mesh }))) throw new NotFoundError(`mesh ${JSON.stringify(req.mesh)} not found`);
    const ref: KeyRef = { type: 'Secret', mesh: req.mesh, privateName: dataplaneSigningKeyName(req.mesh, this.opts.zone), publicName: dataplanePublicKeyName(req.mesh, this.opts.zone) };
    const payload: TokenPayload = { kind: req.type, mesh: req.mesh };
    if (req.name !== undefined) payload.name = req.name;
    if (req.tags !== undefined && Object.keys(req.tags).length > 0) payload.tags = req.tags;
    return this.sign(ref, payload, req.validForMs);
  }

  /** A zone token (for a zone CP on KDS: scope `cp`; for a zone ingress: `ingress`). */
  async issueZone(req: ZoneTokenRequest): Promise<string> {
    const ref: KeyRef = { type: 'GlobalSecret', privateName: ZONE_SIGNING_KEY, publicName: ZONE_PUBLIC_KEY };
    return this.sign(ref, { kind: 'zone', zone: req.zone, scope: [...new Set(req.scope)].sort() }, req.validForMs);
  }
}
