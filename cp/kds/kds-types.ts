/**
 * The resource types KDS carries and their type URLs. A DeltaDiscovery message names
 * one resource type in `type_url`; every resource in it is an envoy
 * `discovery.v3.Resource` whose `resource` Any packs a `kuma.kds.v1.KumaResource`,
 * whose `spec` Any packs the type's kuma.mesh.v1alpha1 message.
 */
import { descriptorOf, type ResourceType } from '../../api/resource';
import { TYPE_PREFIX } from '../../proto';

/** Message every `Resource.resource` Any carries. */
export const KUMA_RESOURCE_MESSAGE = 'kuma.kds.v1.KumaResource';
/** Type URL of `Resource.resource`. */
export const KUMA_RESOURCE_TYPE_URL = `${TYPE_PREFIX}${KUMA_RESOURCE_MESSAGE}`;

/** The resource types that travel over KDS, in the order a fresh zone should receive them. */
export type KdsResourceType = Extract<
  ResourceType,
  'Mesh' | 'Secret' | 'GlobalSecret' | 'TrafficRoute' | 'TrafficPermission' | 'ZoneIngress' | 'Dataplane'
>;

/**
 * KDS type URL per resource type. Secret and GlobalSecret share a spec message, so
 * (as in Kuma) they get `kuma.system.v1alpha1` names of their own.
 */
export const KdsTypeUrl: Readonly<Record<KdsResourceType, string>> = {
  Mesh: `${TYPE_PREFIX}kuma.mesh.v1alpha1.Mesh`,
  Secret: `${TYPE_PREFIX}kuma.system.v1alpha1.Secret`,
  GlobalSecret: `${TYPE_PREFIX}kuma.system.v1alpha1.GlobalSecret`,
  TrafficRoute: `${TYPE_PREFIX}kuma.mesh.v1alpha1.TrafficRoute`,
  TrafficPermission: `${TYPE_PREFIX}kuma.mesh.v1alpha1.TrafficPermission`,
  ZoneIngress: `${TYPE_PREFIX}kuma.mesh.v1alpha1.ZoneIngress`,
  Dataplane: `${TYPE_PREFIX}kuma.mesh.v1alpha1.Dataplane`,
};

/** Types global sends to every zone (GlobalToZoneSync), in sending order. */
export const GLOBAL_TO_ZONE_TYPES: readonly KdsResourceType[] = [
  // Secrets first: a zone should hold a mesh's CA before it learns the mesh uses it.
  'Secret',
  'GlobalSecret',
  'Mesh',
  'TrafficRoute',
  'TrafficPermission',
  'ZoneIngress',
];

/** Types a zone sends to global (ZoneToGlobalSync). */
export const ZONE_TO_GLOBAL_TYPES: readonly KdsResourceType[] = ['Dataplane', 'ZoneIngress'];

/** The resource type a KDS type URL names, or undefined when it names none. */
export function kdsTypeOfUrl(typeUrl: string): KdsResourceType | undefined {
  for (const [type, url] of Object.entries(KdsTypeUrl)) if (url === typeUrl) return type as KdsResourceType;
  return undefined;
}

/** The protobuf message of a type's spec. */
export function specMessageOf(type: KdsResourceType): string {
  return descriptorOf(type)!.message;
}

/** True for mesh-scoped types (their resources carry a mesh). */
export function isMeshScoped(type: KdsResourceType): boolean {
  return descriptorOf(type)!.scope === 'mesh';
}

/**
 * The name a resource has on the wire: `<mesh>/<name>` for mesh-scoped types, the
 * name alone otherwise. Kuma names never contain `/`, so this is unambiguous and
 * lets one delta message remove resources of several meshes by name.
 */
export function wireName(mesh: string | undefined, name: string): string {
  return mesh !== undefined && mesh !== '' ? `${mesh}/${name}` : name;
}

/** Splits a wire name into mesh and name (inverse of wireName). */
export function parseWireName(type: KdsResourceType, wire: string): { mesh?: string; name: string } | undefined {
  if (!isMeshScoped(type)) return wire.length > 0 && !wire.includes('/') ? { name: wire } : undefined;
  const i = wire.indexOf('/');
  if (i <= 0 || i === wire.length - 1 || wire.indexOf('/', i + 1) >= 0) return undefined;
  return { mesh: wire.slice(0, i), name: wire.slice(i + 1) };
}
