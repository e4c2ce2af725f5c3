/**
 * What a zone's ingress advertises to other zones: per mesh and per tag set of a
 * healthy inbound (kuma.io/service plus every other inbound tag), how many instances
 * the zone runs. Other zones turn each entry into endpoints at the ingress's
 * advertised address and route by the SNI built from the same tags. Pure.
 */
import type { Resource } from '../../api/resource';
import { SERVICE_TAG, type Tags } from '../../lib/naming/tags';

/** One entry of ZoneIngress `availableServices` (Kuma's field names). */
export interface AvailableService {
  tags: Tags;
  instances: number;
  mesh: string;
}

/**
 * An inbound counts when it is not marked unhealthy: Kuma's `health.ready: false`
 * and `state: NotReady`/`Ignored` exclude it; no health information counts as ready.
 */
export function inboundIsHealthy(inbound: Record<string, any>): boolean {
  if (inbound.state === 'NotReady' || inbound.state === 'Ignored') return false;
  if (inbound.health && inbound.health.ready !== true) return false;
  return true;
}

function tagKey(mesh: string, tags: Tags): string {
  return JSON.stringify([mesh, Object.keys(tags).sort().map((k) => [k, tags[k]])]);
}

function sortedTags(tags: Tags): Tags {
  const out: Tags = {};
  for (const k of Object.keys(tags).sort()) out[k] = tags[k];
  return out;
}

/** availableServices of the given dataplanes, sorted by mesh, service, then the other tags. */
export function computeAvailableServices(dataplanes: readonly Resource[]): AvailableService[] {
  const counts = new Map<string, AvailableService>();
  for (const dp of dataplanes) {
    const mesh = dp.meta.mesh;
    const inbounds: unknown = dp.spec?.networking?.inbound;
    if (!mesh || !Array.isArray(inbounds)) continue;
    for (const inbound of inbounds) {
      if (!inbound || typeof inbound !== 'object') continue;
      const tags = inbound.tags as Tags | undefined;
      if (!tags || typeof tags[SERVICE_TAG] !== 'string' || !inboundIsHealthy(inbound)) continue;
      const key = tagKey(mesh, tags);
      const cur = counts.get(key);
      if (cur) cur.instances++;
      else counts.set(key, { tags: sortedTags(tags), instances: 1, mesh });
    }
  }
  return [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}
