/**
 * Which services each mesh has, for VIP allocation: the `kuma.io/service` of every
 * Dataplane inbound, plus every `availableServices` entry of ZoneIngresses (the services
 * of other zones, so that `<service>.mesh` resolves for them too). Pure.
 */
import type { Resource } from '../../api/resource';
import { SERVICE_TAG } from '../../lib/naming/tags';

/** mesh -> service names. */
export function servicesByMesh(dataplanes: readonly Resource[], zoneIngresses: readonly Resource[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (mesh: unknown, service: unknown) => {
    if (typeof mesh !== 'string' || mesh === '' || typeof service !== 'string' || service === '') return;
    let s = out.get(mesh);
    if (!s) out.set(mesh, (s = new Set()));
    s.add(service);
  };
  for (const dp of dataplanes) {
    const inbound = dp.spec?.networking?.inbound;
    for (const i of Array.isArray(inbound) ? inbound : []) add(dp.meta.mesh, i?.tags?.[SERVICE_TAG]);
  }
  for (const zi of zoneIngresses) {
    const available = zi.spec?.availableServices;
    for (const a of Array.isArray(available) ? available : []) add(a?.mesh, a?.tags?.[SERVICE_TAG]);
  }
  return out;
}
