/**
 * Authentication of ADS streams: the dataplane token travels as gRPC metadata
 * `authorization` (Kuma's header; a `Bearer ` prefix is accepted too), is verified for
 * the kind, mesh and name the node claims, and the proxy must exist in the store
 * (a Dataplane registers through POST /bootstrap or the REST API first). With
 * KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE=none only the existence checks remain.
 */
import type * as grpc from '@grpc/grpc-js';
import { AuthError, NotFoundError } from '../../../lib/errors';
import type { ResourceStore } from '../../store/store';
import type { TokenClaims, TokenVerifier } from '../../tokens/types';
import { revocationListKey, revocationListOf } from '../../tokens/names';
import type { Authenticator } from './ads-server';
import { parseProxyId, type ParsedProxyId } from './proxy-id';
import type { XdsReconciler } from './reconciler';

/** Options of the ADS authenticator. */
export interface ProxyAuthOptions {
  store: ResourceStore;
  reconciler: XdsReconciler;
  authn: 'dpToken' | 'none';
  tokens?: TokenVerifier;
  /** This CP's zone (zone tokens of ingresses must name it). */
  zone?: string;
}

/** The bearer token in gRPC metadata, or undefined. */
export function tokenFromMetadata(md: grpc.Metadata): string | undefined {
  const v = md.get('authorization')[0];
  if (v === undefined) return undefined;
  const s = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  const t = s.startsWith('Bearer ') ? s.slice(7) : s;
  return t.trim() || undefined;
}

/**
 * Verifies a proxy's token: dataplane tokens for dataplanes and proxyless clients; for a
 * zone ingress an ingress token, or (Kuma 2.x) a zone token with scope `ingress`.
 */
export async function verifyProxyToken(tokens: TokenVerifier, token: string, p: ParsedProxyId, zone?: string): Promise<TokenClaims> {
  if (p.kind !== 'ingress') return tokens.verify(token, { kind: 'dataplane', mesh: p.mesh, name: p.name });
  try {
    return await tokens.verify(token, { kind: 'ingress', name: p.name });
  } catch (err) {
    // A 403 means a good token of another kind: it may be a zone token.
    if (!(err instanceof AuthError) || err.status !== 403 || !zone) throw err;
    return tokens.verify(token, { kind: 'zone', zone, scope: 'ingress' });
  }
}

/** Builds the Authenticator the ADS server calls on each stream's first request. */
export function createProxyAuthenticator(o: ProxyAuthOptions): Authenticator {
  return async (node, metadata) => {
    const p = parseProxyId(node);
    let expiresAt: Date | undefined;
    let tokenId: string | undefined;
    let revocationList: string | undefined;
    if (o.authn === 'dpToken') {
      if (!o.tokens) throw new AuthError('dataplane token authentication is on but no token verifier is configured');
      const token = tokenFromMetadata(metadata);
      if (!token) throw new AuthError(`no dataplane token: send it as gRPC metadata "authorization" (node ${node.id})`);
      const claims = await verifyProxyToken(o.tokens, token, p, o.zone);
      expiresAt = claims.expiresAt;
      tokenId = claims.id;
      revocationList = revocationListKey(revocationListOf(claims));
    }
    if (p.kind === 'ingress') {
      if (!(await o.store.get('ZoneIngress', { name: p.name }))) throw new NotFoundError(`ZoneIngress "${p.name}" not found; register it before connecting`);
    } else {
      if (!(await o.store.get('Mesh', { name: p.mesh }))) throw new NotFoundError(`mesh "${p.mesh}" not found (node ${node.id})`);
      if (p.kind === 'dataplane' && !(await o.store.get('Dataplane', { mesh: p.mesh, name: p.name }))) {
        throw new NotFoundError(`Dataplane "${p.name}" not found in mesh "${p.mesh}"; register it (POST /bootstrap with dataplaneResource, or the REST API) before connecting`);
      }
    }
    const nodeId = node.id;
    const release = await o.reconciler.register(nodeId, p);
    return { nodeId, expiresAt, release, tokenId, revocationList, mesh: p.kind === 'ingress' ? undefined : p.mesh };
  };
}
