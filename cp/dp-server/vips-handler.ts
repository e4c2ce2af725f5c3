/**
 * `GET /dns/vips?mesh=M&name=N`: the VIP table kuma-dp's DNS server answers from
 * (`<service>.mesh` -> VIP). Authenticated with the dataplane token as
 * `Authorization: Bearer <token>`, and limited to the caller's own mesh.
 */
import { AuthError, NotFoundError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { ResourceStore } from '../store/store';
import type { TokenVerifier } from '../tokens/types';
import type { VipAllocator } from '../vips/types';
import type { HandlerResponse } from './bootstrap-handler';

/** How long kuma-dp may cache answers (seconds). */
export const VIPS_TTL_SECONDS = 30;

/** What the handler needs. */
export interface VipsHandlerOptions {
  store: ResourceStore;
  authn: 'dpToken' | 'none';
  tokens?: TokenVerifier;
  vips?: VipAllocator;
  log: Logger;
}

/** Handles one VIP table request; never throws. */
export async function handleDnsVips(o: VipsHandlerOptions, query: URLSearchParams, authorization: string | undefined): Promise<HandlerResponse> {
  const mesh = query.get('mesh') ?? '';
  const name = query.get('name') ?? '';
  if (!mesh || !name) {
    return { status: 422, body: { title: 'Invalid request', details: 'query parameters mesh and name are required', causes: [...(!mesh ? [{ field: 'mesh', message: 'is required' }] : []), ...(!name ? [{ field: 'name', message: 'is required' }] : [])] } };
  }
  try {
    if (o.authn === 'dpToken') {
      if (!o.tokens) throw new AuthError('token authentication is on but no token verifier is configured');
      const token = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
      if (!token) throw new AuthError('missing "Authorization: Bearer <dataplane token>"');
      await o.tokens.verify(token, { kind: 'dataplane', mesh, name });
    }
    if (!(await o.store.get('Mesh', { name: mesh }))) throw new NotFoundError(`mesh "${mesh}" not found`);
    const table = o.vips ? await o.vips.table(mesh) : new Map<string, string>();
    const vips: Record<string, string> = {};
    for (const k of [...table.keys()].sort()) vips[k] = table.get(k)!;
    return { status: 200, body: { mesh, ttl: VIPS_TTL_SECONDS, vips } };
  } catch (err) {
    if (err instanceof AuthError) return { status: err.status, body: { title: err.status === 401 ? 'Unauthorized' : 'Forbidden', details: err.message } };
    if (err instanceof NotFoundError) return { status: 404, body: { title: 'Not Found', details: err.message } };
    o.log.error({ err, mesh, dataplane: name }, 'VIP table request failed');
    return { status: 500, body: { title: 'Internal Server Error', details: 'see the CP log' } };
  }
}
