/**
 * API write rules of the multi-zone modes. A global refuses Dataplanes (they register
 * in their zone and reach global over KDS) and writes to what zones synced up. A zone
 * refuses writes to what global synced down, and normalises what its dataplanes
 * register: every inbound gets `kuma.io/zone: <zone>`, every ZoneIngress `zone: <zone>`.
 *
 * The normalisation edits the input in place: the API server stores the very object
 * it passed to the guards (cp/api-server resource and apply handlers).
 */
import { Labels, keyString, type ResourceInput } from '../../api/resource';
import { ConflictError, ValidationError } from '../../lib/errors';
import { ZONE_TAG } from '../../lib/naming/tags';
import type { WriteGuard } from '../api-server/extension';
import { isFromGlobal, Origin } from './sync-policy';
import type { KdsResourceType } from './kds-types';

/** Guard of a global CP. */
export function globalWriteGuard(): WriteGuard {
  return (op, input, existing) => {
    if (input.type === 'Dataplane') {
      throw new ValidationError(`${keyString(input.type, input)} refused`, [
        {
          field: 'type',
          message: 'a global control plane does not accept Dataplane resources: register dataplanes with their zone control plane; they are synced to global over KDS',
        },
      ]);
    }
    const origin = existing?.meta.labels?.[Labels.origin];
    if (origin === Origin.zone) {
      const zone = existing!.meta.labels?.[Labels.zone] ?? '?';
      throw new ConflictError(
        `${keyString(input.type, input)} has ${Labels.origin}: zone (synced from zone "${zone}"); ${op === 'delete' ? 'delete' : 'change'} it in that zone`,
      );
    }
  };
}

/** Guard (and normaliser) of zone `zone`. */
export function zoneWriteGuard(zone: string): WriteGuard {
  return (op, input, existing) => {
    if (existing && isFromGlobal(existing.meta.type as KdsResourceType, zone, existing)) {
      const from = existing.meta.labels?.[Labels.origin] === Origin.global ? 'global' : `zone "${existing.meta.labels?.[Labels.zone]}" via global`;
      throw new ConflictError(
        `${keyString(input.type, input)} has ${Labels.origin}: ${existing.meta.labels?.[Labels.origin]} (synced from ${from}); ${op === 'delete' ? 'delete' : 'change'} it on the global control plane`,
      );
    }
    if (op !== 'upsert') return;
    if (input.labels?.[Labels.origin] === Origin.global) {
      throw new ValidationError(`${keyString(input.type, input)} refused`, [
        { field: `labels["${Labels.origin}"]`, message: 'only global may create resources with origin "global"; apply it on the global control plane' },
      ]);
    }
    normaliseForZone(zone, input);
  };
}

/** Adds the zone to a Dataplane's inbounds and a ZoneIngress's spec; ValidationError when they name another zone. */
export function normaliseForZone(zone: string, input: ResourceInput): void {
  if (input.type === 'Dataplane') {
    const inbounds: unknown = input.spec?.networking?.inbound;
    if (!Array.isArray(inbounds)) return;
    const bad = inbounds
      .map((ib, i) => ({ i, v: ib?.tags?.[ZONE_TAG] }))
      .filter(({ v }) => v !== undefined && v !== zone)
      .map(({ i, v }) => ({ field: `networking.inbound[${i}].tags["${ZONE_TAG}"]`, message: `is ${JSON.stringify(v)}, but this is zone "${zone}"; leave it out and the zone adds it` }));
    if (bad.length > 0) throw new ValidationError(`${keyString(input.type, input)} refused`, bad);
    for (const ib of inbounds) {
      if (ib && typeof ib === 'object') ib.tags = { ...(ib.tags ?? {}), [ZONE_TAG]: zone };
    }
  } else if (input.type === 'ZoneIngress') {
    if (input.spec.zone !== undefined && input.spec.zone !== '' && input.spec.zone !== zone) {
      throw new ValidationError(`${keyString(input.type, input)} refused`, [
        { field: 'zone', message: `is ${JSON.stringify(input.spec.zone)}, but this is zone "${zone}"; leave it out and the zone sets it` },
      ]);
    }
    input.spec.zone = zone;
  }
}
