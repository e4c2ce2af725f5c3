/** `kumactl config control-planes add|list|switch`: manage `~/.kumactl/config`. */
import { UsageError } from '../../lib/errors';
import { ApiClient } from '../api-client';
import { addControlPlane, checkApiUrl, loadKumactlConfig, saveKumactlConfig, switchControlPlane } from '../config-file';
import { renderTable } from '../output/table';
import type { Command } from './context';

/** Adds, lists or switches control planes. */
export const configCommand: Command = async (ctx) => {
  const [group, action, ...extra] = ctx.args.positionals;
  if (group !== 'control-planes' || extra.length > 0) {
    throw new UsageError('use kumactl config control-planes add --name N --address URL | list | switch --name N');
  }
  const cfg = loadKumactlConfig(ctx.configPath);
  if (action === 'list') {
    const rows = cfg.controlPlanes.map((cp) => {
      const current = cfg.contexts.some((c) => c.name === cfg.currentContext && c.controlPlane === cp.name);
      return [current ? '*' : '', cp.name, cp.coordinates.apiServer.url];
    });
    ctx.out(renderTable(['ACTIVE', 'NAME', 'ADDRESS'], rows));
    return 0;
  }
  const name = ctx.args.strings.name;
  if (!name) throw new UsageError(`config control-planes ${action ?? ''} needs --name NAME`);
  if (action === 'add') {
    const address = ctx.args.strings.address;
    if (!address) throw new UsageError('config control-planes add needs --address URL, e.g. http://127.0.0.1:5681');
    const url = checkApiUrl(address);
    const next = addControlPlane(cfg, name, url, ctx.args.bools.overwrite === true);
    if (!ctx.args.bools['skip-verify']) {
      // Like Kuma: refuse to save an address that is not a Kuma API server.
      const index = (await new ApiClient(url).get('/')) as { tagline?: unknown };
      if (index?.tagline !== 'Kuma') throw new UsageError(`${url} answered, but it is not a Kuma API server (no tagline "Kuma")`);
    }
    saveKumactlConfig(ctx.configPath, next);
    ctx.out(`added Control Plane "${name}"\nswitched active Control Plane to "${name}"\n`);
    return 0;
  }
  if (action === 'switch') {
    saveKumactlConfig(ctx.configPath, switchControlPlane(cfg, name));
    ctx.out(`switched active Control Plane to "${name}"\n`);
    return 0;
  }
  throw new UsageError(`config control-planes: unknown action ${JSON.stringify(action ?? '')}; use add, list or switch`);
};
