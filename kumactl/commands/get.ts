/** `kumactl get TYPE [NAME] [-m MESH] [-o table|yaml|json]`. */
import { UsageError } from '../../lib/errors';
import { listDocument, outputFormat, renderStructured } from '../output/format';
import { resourcesTable } from '../output/resource-table';
import type { Command } from './context';
import { resolveType, resourcePath } from './resource-type';

/** Lists a type (of one mesh for mesh-scoped types) or shows one resource. */
export const getCommand: Command = async (ctx) => {
  const [typeName, name, ...extra] = ctx.args.positionals;
  if (extra.length > 0) throw new UsageError(`get takes TYPE and an optional NAME, got extra ${JSON.stringify(extra.join(' '))}`);
  const d = resolveType(typeName);
  const mesh = ctx.args.strings.mesh ?? 'default';
  const format = outputFormat(ctx.args.strings.output);
  const client = ctx.client();
  if (name !== undefined) {
    const r = (await client.get(resourcePath(d, mesh, name))) as Record<string, any>;
    ctx.out(format === 'table' ? resourcesTable(d.type, [r], ctx.now()) : renderStructured(r, format));
    return 0;
  }
  const items = await client.listAll(resourcePath(d, mesh));
  ctx.out(format === 'table' ? resourcesTable(d.type, items, ctx.now()) : renderStructured(listDocument(items), format));
  return 0;
};
