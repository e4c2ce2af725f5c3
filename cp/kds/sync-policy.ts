/**
 * What crosses KDS and how it is named and labelled on each side. Pure functions of
 * store contents, so the rules are unit-testable without sockets.
 *
 * Global -> zone Z: every Mesh, TrafficRoute and TrafficPermission; the mesh CA
 * secrets (so every zone issues identity certificates under the same root and
 * cross-zone mTLS verifies); dataplane-token *public* keys (private signing keys
 * never leave global); and every OTHER zone's ZoneIngress, unless that zone's `Zone`
 * resource says `enabled: false`. Global-made resources carry
 * `kuma.io/origin: global`; ingresses keep their zone labels.
 *
 * Zone Z -> global: its Dataplanes and its own ZoneIngresses, labelled
 * `kuma.io/origin: zone` and `kuma.io/zone: Z`. Global renames them
 * (global-names.ts) and records the original name in `kuma.io/display-name`.
 */
import { Labels, type Resource, type ResourceInput } from '../../api/resource';
import type { FieldViolation } from '../../lib/errors';
import type { KdsResource } from './codec';
import { computeAvailableServices } from '../ingress/available-services';
import { globalName } from './global-names';
import { wireName, type KdsResourceType } from './kds-types';

/** Values of the kuma.io/origin label. */
export const Origin = { global: 'global', zone: 'zone' } as const;

const CA_SECRET = /^.+\.ca-builtin-(cert|key)-.+$/;
const DP_TOKEN_PUBLIC_KEY = /^dataplane-token-signing-public-key-.+$/;
// Revoking a dataplane token on global must take effect in every zone that verifies it.
const DP_TOKEN_REVOCATIONS = /^dataplane-token-revocations-.+$/;

/**
 * True for secrets a zone needs: mesh CA material, dataplane-token public keys and
 * revocation lists. Never private signing keys (dataplane or zone tokens).
 */
export function isSyncedSecret(type: 'Secret' | 'GlobalSecret', name: string): boolean {
  if (DP_TOKEN_PUBLIC_KEY.test(name)) return true;
  return type === 'Secret' && (CA_SECRET.test(name) || DP_TOKEN_REVOCATIONS.test(name));
}

function labelsOf(r: Resource): Record<string, string> {
  return { ...(r.meta.labels ?? {}) };
}

function toKds(type: KdsResourceType, r: Resource, labels: Record<string, string>, spec = r.spec): KdsResource {
  return { type, ...(r.meta.mesh !== undefined ? { mesh: r.meta.mesh } : {}), name: r.meta.name, labels, spec, revision: r.meta.version };
}

/** True for a ZoneIngress that global learned from a zone (as opposed to one made on global). */
function isZoneIngress(r: Resource): boolean {
  return r.meta.labels?.[Labels.origin] === Origin.zone && typeof r.meta.labels?.[Labels.zone] === 'string';
}

/** Names of zones whose `Zone` resource disables them. */
export function disabledZones(zones: Resource[]): Set<string> {
  return new Set(zones.filter((z) => z.spec?.enabled === false).map((z) => z.meta.name));
}

/**
 * True when a mesh's enabled builtin CA exists in `secrets` (or the mesh needs none).
 * A zone that learned of an mTLS mesh before its CA would mint a CA of its own, and
 * its certificates would not verify in other zones.
 */
export function meshCaReady(mesh: Resource, secrets: Resource[]): boolean {
  const mtls = mesh.spec?.mtls;
  const backend = Array.isArray(mtls?.backends) ? mtls.backends.find((b: any) => b?.name === mtls.enabledBackend) : undefined;
  if (!backend || backend.type !== 'builtin') return true;
  const names = new Set(secrets.filter((s) => s.meta.mesh === mesh.meta.name).map((s) => s.meta.name));
  const m = mesh.meta.name;
  return names.has(`${m}.ca-builtin-cert-${backend.name}`) && names.has(`${m}.ca-builtin-key-${backend.name}`);
}

/**
 * The resources of `type` global sends to `zone`, with their wire labels, sorted by
 * wire name. `zones` are global's Zone resources (for `enabled: false`); `secrets`
 * its Secrets (a Mesh whose CA does not exist yet is held back: `hold: true`).
 */
export function globalToZoneResources(type: KdsResourceType, zone: string, stored: Resource[], zones: Resource[], secrets: Resource[] = []): KdsResource[] {
  const out: KdsResource[] = [];
  if (type === 'ZoneIngress') {
    const disabled = disabledZones(zones);
    for (const r of stored) {
      if (!isZoneIngress(r)) continue;
      const from = r.meta.labels![Labels.zone];
      // A zone never gets its own ingress back, and a disabled zone's ingresses are withdrawn.
      if (from === zone || disabled.has(from)) continue;
      out.push(toKds(type, r, labelsOf(r)));
    }
  } else if (type === 'Mesh' || type === 'TrafficRoute' || type === 'TrafficPermission' || type === 'Secret' || type === 'GlobalSecret') {
    for (const r of stored) {
      if ((type === 'Secret' || type === 'GlobalSecret') && !isSyncedSecret(type, r.meta.name)) continue;
      // Resources that came from a zone are not echoed down as global's own.
      if (r.meta.labels?.[Labels.origin] === Origin.zone) continue;
      const k = toKds(type, r, { ...labelsOf(r), [Labels.origin]: Origin.global, [Labels.displayName]: r.meta.name });
      if (type === 'Mesh' && !meshCaReady(r, secrets)) k.hold = true;
      out.push(k);
    }
  }
  return out.sort((a, b) => wireName(a.mesh, a.name).localeCompare(wireName(b.mesh, b.name)));
}

/** True for a zone's resource that it received from global (and must not send back or write locally). */
export function isFromGlobal(type: KdsResourceType, zone: string, r: Resource): boolean {
  const labels = r.meta.labels ?? {};
  if (type === 'ZoneIngress') {
    return labels[Labels.origin] === Origin.zone && labels[Labels.zone] !== undefined && labels[Labels.zone] !== zone;
  }
  return labels[Labels.origin] === Origin.global;
}

/**
 * What a zone sends to global for `type`: its local Dataplanes and ZoneIngresses,
 * labelled with origin and zone; a ZoneIngress's `spec.zone` is filled in. When the
 * zone's `dataplanes` are given, a ZoneIngress carries `availableServices` computed
 * from them at send time: a proxy re-registering its ingress (which knows nothing of
 * services) must not make other zones see an empty ingress until the updater refills it.
 */
export function zoneToGlobalResources(type: KdsResourceType, zone: string, stored: Resource[], dataplanes?: Resource[]): KdsResource[] {
  const services = type === 'ZoneIngress' && dataplanes ? computeAvailableServices(dataplanes) : undefined;
  const out: KdsResource[] = [];
  if (type !== 'Dataplane' && type !== 'ZoneIngress') return out;
  for (const r of stored) {
    if (isFromGlobal(type, zone, r)) continue;
    const labels = labelsOf(r);
    delete labels[Labels.displayName];
    labels[Labels.origin] = Origin.zone;
    labels[Labels.zone] = zone;
    let spec = r.spec;
    if (type === 'ZoneIngress') {
      spec = { ...r.spec, zone };
      if (services) {
        if (services.length > 0) spec.availableServices = services;
        else delete spec.availableServices;
      }
    }
    const k = toKds(type, r, labels, spec);
    // The content now depends on the dataplanes too: the store version no longer identifies it.
    if (services) delete k.revision;
    out.push(k);
  }
  return out.sort((a, b) => wireName(a.mesh, a.name).localeCompare(wireName(b.mesh, b.name)));
}

/** Everything wrong with a resource global received from `zone`, beyond schema validation. */
export function checkFromZone(zone: string, r: KdsResource): FieldViolation[] {
  const v: FieldViolation[] = [];
  if (r.type !== 'Dataplane' && r.type !== 'ZoneIngress') {
    v.push({ field: 'type_url', message: `a zone may only send Dataplane and ZoneIngress resources, not ${r.type}` });
  }
  if (r.labels[Labels.origin] !== Origin.zone) {
    v.push({ field: `labels["${Labels.origin}"]`, message: `must be "${Origin.zone}", got ${JSON.stringify(r.labels[Labels.origin] ?? null)}` });
  }
  if (r.labels[Labels.zone] !== zone) {
    v.push({ field: `labels["${Labels.zone}"]`, message: `must be the authenticated zone "${zone}", got ${JSON.stringify(r.labels[Labels.zone] ?? null)}` });
  }
  if (r.type === 'ZoneIngress' && r.spec.zone !== zone) {
    v.push({ field: 'spec.zone', message: `must be the authenticated zone "${zone}", got ${JSON.stringify(r.spec.zone ?? null)}` });
  }
  return v;
}

/** The store input global writes for a resource received from `zone` (renamed, labelled). */
export function globalStoreInput(zone: string, r: KdsResource): ResourceInput {
  return {
    type: r.type,
    ...(r.mesh !== undefined ? { mesh: r.mesh } : {}),
    name: globalName(r.name, zone),
    labels: { ...r.labels, [Labels.displayName]: r.name },
    spec: r.spec,
  };
}

/** For a resource global stores, the wire form it had when `zone` sent it; undefined when `zone` does not own it. */
export function globalStoredAsZoneWire(type: KdsResourceType, zone: string, r: Resource): KdsResource | undefined {
  const labels = labelsOf(r);
  if (labels[Labels.origin] !== Origin.zone || labels[Labels.zone] !== zone) return undefined;
  const name = labels[Labels.displayName];
  if (!name) return undefined;
  delete labels[Labels.displayName];
  return { type, ...(r.meta.mesh !== undefined ? { mesh: r.meta.mesh } : {}), name, labels, spec: r.spec };
}

/** Everything wrong with a resource a zone received from global, beyond schema validation. */
export function checkFromGlobal(zone: string, r: KdsResource): FieldViolation[] {
  const v: FieldViolation[] = [];
  if (r.type === 'Dataplane') v.push({ field: 'type_url', message: 'global does not send Dataplane resources to zones' });
  if (r.type === 'ZoneIngress') {
    if (r.labels[Labels.origin] !== Origin.zone || !r.labels[Labels.zone]) {
      v.push({ field: 'labels', message: `a ZoneIngress from global must carry "${Labels.origin}: zone" and "${Labels.zone}"` });
    } else if (r.labels[Labels.zone] === zone) {
      v.push({ field: `labels["${Labels.zone}"]`, message: `is this zone ("${zone}"): a zone's own ingress is never synced back to it` });
    }
  } else if (r.labels[Labels.origin] !== Origin.global) {
    v.push({ field: `labels["${Labels.origin}"]`, message: `must be "${Origin.global}", got ${JSON.stringify(r.labels[Labels.origin] ?? null)}` });
  }
  if ((r.type === 'Secret' || r.type === 'GlobalSecret') && !isSyncedSecret(r.type, r.name)) {
    v.push({ field: 'name', message: `${JSON.stringify(r.name)} is not a secret zones receive (mesh CA or dataplane-token public key)` });
  }
  return v;
}

/** The store input a zone writes for a resource received from global (names and labels as sent). */
export function zoneStoreInput(r: KdsResource): ResourceInput {
  return { type: r.type, ...(r.mesh !== undefined ? { mesh: r.mesh } : {}), name: r.name, labels: { ...r.labels }, spec: r.spec };
}
