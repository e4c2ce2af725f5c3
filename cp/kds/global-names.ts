/**
 * Names of zone resources on global. Two zones may both have a Dataplane `web-1` in
 * mesh `default`; on global they must not collide. Global stores them as
 * `<name>.<zone>-<h>` where `<h>` is 10 hex digits of sha256(zone, name): readable,
 * stable across restarts (so a resync finds the same resource), and distinct even
 * where the dotted form alone would be ambiguous (`a.b` in zone `c` vs `a` in zone
 * `b.c`). The original name and zone stay in labels (kuma.io/display-name,
 * kuma.io/zone). Kuma names may be at most 253 characters: a long name part is cut
 * so that the whole stays within that; the hash keeps it unique.
 */
import crypto from 'node:crypto';

const MAX_NAME = 253;

/** The name global stores a zone's resource under. */
export function globalName(name: string, zone: string): string {
  const h = crypto.createHash('sha256').update(`${zone}\n${name}`).digest('hex').slice(0, 10);
  const suffix = `.${zone}-${h}`;
  const room = Math.max(1, MAX_NAME - suffix.length);
  return `${name.slice(0, room)}${suffix}`;
}
