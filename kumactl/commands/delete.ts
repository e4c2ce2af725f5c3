/** `kumactl delete TYPE NAME [-m MESH]`. */
import { UsageError } from '../../lib/errors';
import type { Command } from './context';
import { resolveType, resourcePath } from './resource-type';

/** Deletes one resource; deleting a mesh deletes everything in it (the CP does it atomically). */
export const deleteCommand: Command = async (ctx) => {
  const [typeName, name, ...extra] = ctx.args.positionals;
  const d = resolveType(typeName);
  if (!name || extra.length > 0) throw new UsageError(`delete takes TYPE and NAME, e.g. kumactl delete ${d.cliNames[0]} my-${d.cliNames[0]}`);
  const mesh = ctx.args.strings.mesh ?? 'default';
  await ctx.client().request('DELETE', resourcePath(d, mesh, name));
  ctx.out(`deleted ${d.type} "${name}"\n`);
  return 0;
};
