/** `kumactl inspect dataplanes [-m MESH]` and `kumactl inspect zones` (global only). */
import { UsageError } from '../../lib/errors';
import { CpError } from '../api-client';
import { listDocument, outputFormat, renderStructured } from '../output/format';
import { dataplaneInsightsTable, zoneInsightsTable } from '../output/resource-table';
import type { Command } from './context';

/** Shows dataplanes with their connection status, or zones with theirs. */
export const inspectCommand: Command = async (ctx) => {
  const [what, ...extra] = ctx.args.positionals;
  if (extra.length > 0) throw new UsageError(`inspect takes one argument, got extra ${JSON.stringify(extra.join(' '))}`);
  const format = outputFormat(ctx.args.strings.output);
  const client = ctx.client();
  if (what === 'dataplanes' || what === 'dataplane' || what === 'dps') {
    const mesh = ctx.args.strings.mesh ?? 'default';
    const items = await client.listAll(`/meshes/${encodeURIComponent(mesh)}/dataplanes+insights`);
    ctx.out(format === 'table' ? dataplaneInsightsTable(items, ctx.now()) : renderStructured(listDocument(items), format));
    return 0;
  }
  if (what === 'zones' || what === 'zone') {
    let items: Record<string, any>[];
    try {
      items = await client.listAll('/zones+insights');
    } catch (err) {
      if (err instanceof CpError && err.status === 404) {
        ctx.err('Error: this control plane does not serve zone insights; zones can only be inspected on a global control plane (KUMA_MODE=global)\n');
        return 1;
      }
      throw err;
    }
    ctx.out(format === 'table' ? zoneInsightsTable(items, ctx.now()) : renderStructured(listDocument(items), format));
    return 0;
  }
  throw new UsageError(`inspect what? use "kumactl inspect dataplanes" or "kumactl inspect zones", got ${JSON.stringify(what ?? '')}`);
};
