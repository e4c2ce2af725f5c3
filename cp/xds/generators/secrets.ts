/**
 * SDS secrets served over ADS: the proxy's identity certificate and the mesh CA.
 * Only for meshes with mTLS; listeners and clusters reference them by name.
 */
import { TypeUrl } from '../../../proto/index';
import { addResource, emptyResourceSet, IDENTITY_SECRET, NO_RESOURCES, MESH_CA_SECRET, type ProxyContext, type ResourceSet } from './types';

/** `identity_cert` (tls_certificate) and `mesh_ca` (validation_context). */
export function generateSecrets(ctx: ProxyContext): ResourceSet {
  if (!ctx.meshSnapshot?.mtls || !ctx.identity) return NO_RESOURCES;
  const set = emptyResourceSet();
  addResource(set, TypeUrl.Secret, {
    name: IDENTITY_SECRET,
    tls_certificate: {
      certificate_chain: { inline_string: ctx.identity.certPem },
      private_key: { inline_string: ctx.identity.keyPem },
    },
  });
  addResource(set, TypeUrl.Secret, { name: MESH_CA_SECRET, validation_context: { trusted_ca: { inline_string: ctx.identity.caPem } } });
  return set;
}
