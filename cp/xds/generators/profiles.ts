/**
 * Profiles: which generators make up the config of each kind of proxy. The output is
 * the merge of their ResourceSets; names are unique per type by construction.
 */
import { generateIngress } from './ingress';
import { generateInbound } from './inbound';
import { generateOutbound } from './outbound';
import { generateProxyless } from './proxyless';
import { generateSecrets } from './secrets';
import { generateTransparentProxy } from './transparent-proxy';
import { emptyResourceSet, mergeResourceSets, type Generator, type ProxyContext, type ProxyKind, type ResourceSet } from './types';

/** Generators per proxy kind, in order. */
export const PROFILES: Record<ProxyKind, readonly Generator[]> = {
  dataplane: [generateSecrets, generateInbound, generateOutbound, generateTransparentProxy],
  ingress: [generateIngress],
  proxyless: [generateProxyless],
};

/** Every resource of one proxy. Pure and deterministic. */
export function generateResources(ctx: ProxyContext): ResourceSet {
  const set = emptyResourceSet();
  for (const g of PROFILES[ctx.kind]) mergeResourceSets(set, g(ctx));
  return set;
}
