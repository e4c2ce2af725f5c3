/** Resolving the TYPE argument of get/delete to a descriptor, with a usage error listing valid names. */
import { descriptorByCliName, RESOURCE_TYPES, type ResourceTypeDescriptor } from '../../api/resource';
import { UsageError } from '../../lib/errors';

/** The types kumactl shows to users (internal Config is left out). */
export const USER_TYPES = RESOURCE_TYPES.filter((d) => d.type !== 'Config');

/** Descriptor for a kumactl type name (`dataplanes`, `dp`, `zone-ingress`, ...). */
export function resolveType(name: string | undefined): ResourceTypeDescriptor {
  const valid = USER_TYPES.map((d) => d.cliNames[1] ?? d.cliNames[0]).join(', ');
  if (!name) throw new UsageError(`missing resource type; valid: ${valid}`);
  const d = descriptorByCliName(name.toLowerCase());
  if (!d || d.type === 'Config') throw new UsageError(`unknown resource type ${JSON.stringify(name)}; valid: ${valid}`);
  return d;
}

/** REST path of one resource or a collection. */
export function resourcePath(d: ResourceTypeDescriptor, mesh: string, name?: string): string {
  const base = d.scope === 'mesh' ? `/meshes/${encodeURIComponent(mesh)}/${d.path}` : `/${d.path}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}
