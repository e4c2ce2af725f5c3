/**
 * Workload identities in certificates: `spiffe://<mesh>/<service>` as the URI SAN that
 * TrafficPermission is checked against, plus `kuma://<tag>/<value>` SANs for other tags.
 */
import type { Tags } from './tags';

/** The SPIFFE ID of a service in a mesh. */
export function spiffeId(mesh: string, service: string): string {
  return `spiffe://${mesh}/${service}`;
}

/** Prefix that every identity of a mesh starts with. */
export function spiffePrefix(mesh: string): string {
  return `spiffe://${mesh}/`;
}

/** Parses `spiffe://mesh/service`; undefined when malformed. */
export function parseSpiffeId(uri: string): { mesh: string; service: string } | undefined {
  const m = /^spiffe:\/\/([^/]+)\/(.+)$/.exec(uri);
  return m ? { mesh: m[1], service: m[2] } : undefined;
}

/** `kuma://<tag>/<value>` URIs for every tag value, sorted for determinism. */
export function kumaUris(tags: Record<string, string[]> | Tags): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(tags)) {
    for (const value of Array.isArray(v) ? v : [v]) out.push(`kuma://${k}/${value}`);
  }
  return out.sort();
}
