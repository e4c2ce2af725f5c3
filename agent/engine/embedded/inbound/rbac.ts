/**
 * Network RBAC evaluation against the caller's certificate (Envoy's
 * `authenticated.principal_name` matches any URI SAN, then DNS SANs, else the subject;
 * we carry identities only in URI SANs, so URI SANs are what is checked). Pure.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/rbac/v3/rbac.proto
 */
import type { Principal, RbacModel } from '../config/model';
import { stringMatches } from '../config/tls';

function principalMatches(p: Principal, uris: readonly string[], authenticated: boolean): boolean {
  switch (p.kind) {
    case 'any':
      return true;
    case 'authenticated':
      if (!authenticated) return false;
      if (!p.match) return true;
      for (const u of uris) if (stringMatches(p.match, u)) return true;
      return false;
    case 'and':
      for (const x of p.ids) if (!principalMatches(x, uris, authenticated)) return false;
      return true;
    case 'or':
      for (const x of p.ids) if (principalMatches(x, uris, authenticated)) return true;
      return false;
    case 'not':
      return !principalMatches(p.id, uris, authenticated);
  }
}

/** The policy that matched, or undefined. */
export function matchingPolicy(rbac: RbacModel, uris: readonly string[], authenticated: boolean): string | undefined {
  for (const pol of rbac.policies) {
    for (const p of pol.principals) if (principalMatches(p, uris, authenticated)) return pol.name;
  }
  return undefined;
}

/** True when the connection may proceed: ALLOW needs a matching policy, DENY needs none. */
export function rbacAllows(rbac: RbacModel | undefined, uris: readonly string[], authenticated: boolean): boolean {
  if (!rbac) return true;
  const m = matchingPolicy(rbac, uris, authenticated);
  return rbac.action === 'ALLOW' ? m !== undefined : m === undefined;
}
