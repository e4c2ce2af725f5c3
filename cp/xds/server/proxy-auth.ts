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
import type { TokenVerifier } from '../../tokens/types';
import type { Authenticator } from './ads-server';
import { parseProxyId } from './proxy-id';
import type { XdsReconciler } from './reconciler';

/** Options of the ADS authenticator. */
export interface ProxyAuthOptions {
  store: ResourceStore;
  reconciler: XdsReconciler;
  authn: 'dpToken' | 'none';
  tokens?: TokenVerifier;
}

/** The bearer token in gRPC metadata, or undefined. */
export function tokenFromMetadata(md: grpc.Metadata): string | undefined {
  const v = md.get('authorization')[0];
  if (v === undefined) return undefined;
  const s = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  const t = s.startsWith('Bearer ') ? s.slice(7) : s;
  return t.trim() || undefined;
}

/** Builds the Authenticator the ADS server calls on each stream's first request. */
export function createProxyAuthenticator(o: ProxyAuthOptions): Authenticator {
  return async (node, metadata) => {
    const p = parseProxyId(node);
    let expiresAt: Date | undefined;
    if (o.authn === 'dpToken') {
      if (!o.tokens) throw new AuthError('dataplane token authentication is on but no token verifier is configured');
      const token = tokenFromMetadata(metadata);
      if (!token) throw new AuthError(`no dataplane token: send it as gRPC metadata "authorization" (node ${node.id})`);
      const claims = await o.tokens.verify(token, p.kind === 'ingress' ? { kind: 'ingress', name: p.name } : { kind: 'dataplane', mesh: p.mesh, name: p.name });
      expiresAt = claims.expiresAt;
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
    return { nodeId, expiresAt, release };
  };
}
