/**
 * `kumactl generate dataplane-token` and `generate zone-token`: ask the CP to sign a
 * token (`POST /tokens/dataplane`, `POST /tokens/zone`) and print it.
 */
import { UsageError } from '../../lib/errors';
import { checkDuration } from '../../api/duration';
import { CpError } from '../api-client';
import type { Command } from './context';

function validFor(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const why = checkDuration(raw);
  if (why) throw new UsageError(`--valid-for: ${why}`);
  return raw;
}

/** POSTs a token request; a CP without token routes gets a clear message. */
async function requestToken(ctx: Parameters<Command>[0], path: string, body: unknown): Promise<unknown> {
  try {
    return await ctx.client().request('POST', path, body);
  } catch (err) {
    if (err instanceof CpError && (err.status === 404 || err.status === 405)) {
      throw new UsageError(`this control plane does not issue tokens at ${path} (HTTP ${err.status}); dataplane tokens come from a standalone or zone CP, zone tokens from global`);
    }
    throw err;
  }
}

function printToken(out: (s: string) => void, body: unknown): void {
  const token = typeof body === 'string' ? body : (body as { token?: unknown })?.token;
  if (typeof token !== 'string' || token === '') throw new UsageError('the control plane answered without a token');
  out(token.endsWith('\n') ? token : `${token}\n`);
}

/** `generate dataplane-token --mesh M --name N [--type dataplane|ingress] [--valid-for 24h]` and `generate zone-token --zone Z [--scope cp|ingress ...] [--valid-for D]`. */
export const generateCommand: Command = async (ctx) => {
  const [what, ...extra] = ctx.args.positionals;
  if (extra.length > 0) throw new UsageError(`generate takes one argument, got extra ${JSON.stringify(extra.join(' '))}`);
  if (what === 'dataplane-token') {
    const type = ctx.args.strings.type ?? 'dataplane';
    if (type !== 'dataplane' && type !== 'ingress') throw new UsageError(`--type ${JSON.stringify(type)} is not valid; use dataplane or ingress`);
    const name = ctx.args.strings.name;
    const body: Record<string, unknown> = { mesh: ctx.args.strings.mesh ?? 'default', type };
    if (name !== undefined) body.name = name;
    const vf = validFor(ctx.args.strings['valid-for']);
    if (vf !== undefined) body.validFor = vf;
    printToken(ctx.out, await requestToken(ctx, '/tokens/dataplane', body));
    return 0;
  }
  if (what === 'zone-token') {
    const zone = ctx.args.strings.zone;
    if (!zone) throw new UsageError('generate zone-token needs --zone NAME');
    const scope = (ctx.args.lists.scope ?? ['cp', 'ingress']).flatMap((s) => s.split(',')).filter((s) => s !== '');
    for (const s of scope) if (s !== 'cp' && s !== 'ingress') throw new UsageError(`--scope ${JSON.stringify(s)} is not valid; use cp or ingress (repeatable)`);
    const body: Record<string, unknown> = { zone, scope: [...new Set(scope)].sort() };
    const vf = validFor(ctx.args.strings['valid-for']);
    if (vf !== undefined) body.validFor = vf;
    printToken(ctx.out, await requestToken(ctx, '/tokens/zone', body));
    return 0;
  }
  throw new UsageError(`generate what? use dataplane-token or zone-token, got ${JSON.stringify(what ?? '')}`);
};
