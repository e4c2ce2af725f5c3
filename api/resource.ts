/**
 * The Kuma resource model shared by kuma-cp, kuma-dp and kumactl: resource types,
 * their metadata, and conversion between the stored form (meta + spec) and Kuma's
 * flat YAML/JSON form (`type`, `mesh`, `name`, then the spec fields).
 */

/** Every resource type this project knows, named as Kuma's `type` field. */
export type ResourceType =
  | 'Mesh'
  | 'Dataplane'
  | 'ZoneIngress'
  | 'Zone'
  | 'TrafficRoute'
  | 'TrafficPermission'
  | 'Secret'
  | 'GlobalSecret'
  | 'Config';

/** Describes one resource type: where it lives and how clients name it. */
export interface ResourceTypeDescriptor {
  type: ResourceType;
  /** `mesh` resources live inside a mesh; `global` ones do not. */
  scope: 'mesh' | 'global';
  /** REST collection segment: `/meshes/{mesh}/<path>` or `/<path>`. */
  path: string;
  /** Names kumactl accepts (`get <name>`), singular first. */
  cliNames: string[];
  /** Protobuf message of the spec (kuma.mesh.v1alpha1), for KDS. */
  message: string;
}

/** The descriptors, in the order kumactl lists them. */
export const RESOURCE_TYPES: readonly ResourceTypeDescriptor[] = [
  { type: 'Mesh', scope: 'global', path: 'meshes', cliNames: ['mesh', 'meshes'], message: 'kuma.mesh.v1alpha1.Mesh' },
  { type: 'Dataplane', scope: 'mesh', path: 'dataplanes', cliNames: ['dataplane', 'dataplanes', 'dp', 'dps'], message: 'kuma.mesh.v1alpha1.Dataplane' },
  { type: 'ZoneIngress', scope: 'global', path: 'zoneingresses', cliNames: ['zone-ingress', 'zone-ingresses', 'zoneingress', 'zoneingresses'], message: 'kuma.mesh.v1alpha1.ZoneIngress' },
  { type: 'Zone', scope: 'global', path: 'zones', cliNames: ['zone', 'zones'], message: 'kuma.mesh.v1alpha1.Zone' },
  { type: 'TrafficRoute', scope: 'mesh', path: 'traffic-routes', cliNames: ['traffic-route', 'traffic-routes'], message: 'kuma.mesh.v1alpha1.TrafficRoute' },
  { type: 'TrafficPermission', scope: 'mesh', path: 'traffic-permissions', cliNames: ['traffic-permission', 'traffic-permissions'], message: 'kuma.mesh.v1alpha1.TrafficPermission' },
  { type: 'Secret', scope: 'mesh', path: 'secrets', cliNames: ['secret', 'secrets'], message: 'kuma.mesh.v1alpha1.Secret' },
  { type: 'GlobalSecret', scope: 'global', path: 'global-secrets', cliNames: ['global-secret', 'global-secrets'], message: 'kuma.mesh.v1alpha1.Secret' },
  // Internal state the CP keeps in the store (VIP tables, ...); spec `{ config: string }`.
  { type: 'Config', scope: 'global', path: 'configs', cliNames: ['config', 'configs'], message: '' },
];

/** Descriptor by `type`; undefined for an unknown type. */
export function descriptorOf(type: string): ResourceTypeDescriptor | undefined {
  return RESOURCE_TYPES.find((d) => d.type === type);
}

/** Descriptor by REST path segment (`traffic-routes`); undefined when unknown. */
export function descriptorByPath(segment: string): ResourceTypeDescriptor | undefined {
  return RESOURCE_TYPES.find((d) => d.path === segment);
}

/** Descriptor by a name kumactl accepts (`dataplanes`, `dp`); undefined when unknown. */
export function descriptorByCliName(name: string): ResourceTypeDescriptor | undefined {
  return RESOURCE_TYPES.find((d) => d.cliNames.includes(name));
}

/** Labels Kuma puts on synced resources. */
export const Labels = {
  origin: 'kuma.io/origin',
  zone: 'kuma.io/zone',
  displayName: 'kuma.io/display-name',
} as const;

/** Identity and bookkeeping of a stored resource. */
export interface ResourceMeta {
  type: ResourceType;
  /** Set for mesh-scoped types, absent for global ones. */
  mesh?: string;
  name: string;
  /** Opaque, changes on every write; used for optimistic concurrency. */
  version: string;
  creationTime: string;
  modificationTime: string;
  labels?: Record<string, string>;
}

/** A stored resource: meta plus the spec in Kuma's JSON form. */
export interface Resource<S = Record<string, any>> {
  meta: ResourceMeta;
  spec: S;
}

/** What a writer supplies: identity and spec, no bookkeeping. */
export interface ResourceInput<S = Record<string, any>> {
  type: ResourceType;
  mesh?: string;
  name: string;
  labels?: Record<string, string>;
  spec: S;
}

/** The key of a resource within its type. */
export interface ResourceKey {
  mesh?: string;
  name: string;
}

const META_FIELDS = new Set(['type', 'mesh', 'name', 'creationTime', 'modificationTime', 'labels', 'version']);

/** Kuma's flat JSON form of a resource (what the REST API returns and kumactl prints). */
export function toKumaJson(r: Resource): Record<string, any> {
  const out: Record<string, any> = { type: r.meta.type };
  if (r.meta.mesh !== undefined) out.mesh = r.meta.mesh;
  out.name = r.meta.name;
  out.creationTime = r.meta.creationTime;
  out.modificationTime = r.meta.modificationTime;
  if (r.meta.labels && Object.keys(r.meta.labels).length > 0) out.labels = r.meta.labels;
  return { ...out, ...r.spec };
}

/** Splits Kuma's flat form into identity and spec. Does not validate. */
export function fromKumaJson(obj: Record<string, any>): ResourceInput {
  const spec: Record<string, any> = {};
  for (const [k, v] of Object.entries(obj)) if (!META_FIELDS.has(k)) spec[k] = v;
  return {
    type: obj.type,
    mesh: obj.mesh,
    name: obj.name,
    labels: obj.labels,
    spec,
  };
}

/** `mesh/name` or `name`, for messages and logs. */
export function keyString(type: string, key: ResourceKey): string {
  return key.mesh !== undefined ? `${type} ${key.mesh}/${key.name}` : `${type} ${key.name}`;
}
