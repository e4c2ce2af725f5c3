/**
 * What a token says and whether it fits what the caller expects. Pure: the verifier
 * has already checked the signature and expiry when these run.
 */
import { AuthError } from '../../lib/errors';
import type { Resource } from '../../api/resource';
import type { TokenClaims } from './types';

/** Token kinds. */
export const TOKEN_KINDS = ['dataplane', 'ingress', 'zone'] as const;
/** Zone token scopes: `cp` (a zone CP on KDS), `ingress` (a zone ingress). */
export const ZONE_SCOPES = ['cp', 'ingress'] as const;

/** The JWT payload of our tokens (besides the registered iat, exp, jti). */
export interface TokenPayload {
  kind: TokenClaims['kind'];
  mesh?: string;
  name?: string;
  tags?: Record<string, string[]>;
  zone?: string;
  scope?: string[];
}

/** What a caller of verify() expects of a token. */
export interface TokenExpectation {
  kind: TokenClaims['kind'];
  mesh?: string;
  name?: string;
  zone?: string;
  /** For zone tokens: the scope required; `cp` when absent (KDS is the consumer of zone tokens). */
  scope?: string;
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Reads our claims from a verified payload; AuthError 401 when they are not ours. */
export function readClaims(payload: Record<string, unknown>): TokenClaims & { scope?: string[] } {
  const kind = payload.kind;
  if (typeof kind !== 'string' || !(TOKEN_KINDS as readonly string[]).includes(kind)) {
    throw new AuthError(`malformed token: claim "kind" must be one of ${TOKEN_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  }
  if (typeof payload.jti !== 'string' || payload.jti === '') throw new AuthError('malformed token: claim "jti" is missing');
  const out: TokenClaims & { scope?: string[] } = { kind: kind as TokenClaims['kind'], id: payload.jti };
  for (const k of ['mesh', 'name', 'zone'] as const) {
    const v = payload[k];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new AuthError(`malformed token: claim "${k}" must be a string`);
    out[k] = v;
  }
  if (payload.tags !== undefined) {
    const tags = payload.tags;
    if (tags === null || typeof tags !== 'object' || Array.isArray(tags) || !Object.values(tags).every(isStringList)) {
      throw new AuthError('malformed token: claim "tags" must map tag names to lists of values');
    }
    out.tags = tags as Record<string, string[]>;
  }
  if (payload.scope !== undefined) {
    if (!isStringList(payload.scope)) throw new AuthError('malformed token: claim "scope" must be a list of strings');
    out.scope = payload.scope;
  }
  if (typeof payload.exp === 'number') out.expiresAt = new Date(payload.exp * 1000);
  if ((kind === 'dataplane' || kind === 'ingress') && !out.mesh) throw new AuthError(`malformed token: a ${kind} token needs claim "mesh"`);
  if (kind === 'zone' && !out.zone) throw new AuthError('malformed token: a zone token needs claim "zone"');
  return out;
}

/**
 * Checks the claims against the expectation; AuthError 403 naming expected vs got. A
 * token without a name is valid for any proxy of its mesh (Kuma's behaviour).
 */
export function checkExpectation(claims: TokenClaims & { scope?: string[] }, expect: TokenExpectation): void {
  if (claims.kind !== expect.kind) throw new AuthError(`token is a ${claims.kind} token, expected a ${expect.kind} token`, 403);
  if (expect.mesh !== undefined && claims.mesh !== expect.mesh) {
    throw new AuthError(`token is for mesh ${JSON.stringify(claims.mesh)}, expected mesh ${JSON.stringify(expect.mesh)}`, 403);
  }
  if (expect.name !== undefined && claims.name !== undefined && claims.name !== expect.name) {
    throw new AuthError(`token is for ${claims.kind} ${JSON.stringify(claims.name)}, expected ${JSON.stringify(expect.name)}`, 403);
  }
  if (expect.zone !== undefined && claims.zone !== expect.zone) {
    throw new AuthError(`token is for zone ${JSON.stringify(claims.zone)}, expected zone ${JSON.stringify(expect.zone)}`, 403);
  }
  if (claims.kind === 'zone') {
    const scope = expect.scope ?? 'cp';
    if (!(claims.scope ?? []).includes(scope)) {
      throw new AuthError(`zone token has scope ${JSON.stringify(claims.scope ?? [])}, expected it to include ${JSON.stringify(scope)}`, 403);
    }
  }
}

/** The token ids in a revocation list (newline- or comma-separated, blanks ignored). */
export function parseRevocations(text: string): Set<string> {
  return new Set(text.split(/[\s,]+/).filter((s) => s !== ''));
}

/** The text a token secret holds (`spec.data`, base64); '' when it has none. */
export function secretText(r: Resource | undefined): string {
  const data = r?.spec?.data;
  return typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : '';
}

/** The token ids a revocation-list secret names (empty when there is none). */
export function revokedIds(r: Resource | undefined): Set<string> {
  return parseRevocations(secretText(r));
}
