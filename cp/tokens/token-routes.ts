/**
 * REST routes that issue tokens (kumactl generate dataplane-token / zone-token):
 * `POST /tokens/dataplane` {mesh, name?, tags?, type?, validFor?} and
 * `POST /tokens/zone` {zone, scope?, validFor?}; both answer 200 with the token as
 * text/plain. Bodies are checked completely; every problem is named with its field.
 */
import { checkDuration, parseDuration } from '../../api/duration';
import { ViolationCollector } from '../../lib/errors';
import type { ExtraRoute } from '../api-server/extension';
import { ZONE_SCOPES } from './claims';
import type { TokenIssuer } from './token-issuer';

/** Lifetime when a request gives no `validFor` (Kuma's tokens once had no expiry; ten years is the closest bounded value). */
export const DEFAULT_TOKEN_VALIDITY = '87600h';

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function asObject(body: unknown, v: ViolationCollector): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    v.add('', `request body must be a JSON object, got ${body === undefined ? 'nothing' : show(body)}`);
    return {};
  }
  return body as Record<string, unknown>;
}

function validFor(v: ViolationCollector, raw: unknown): number {
  const text = raw === undefined ? DEFAULT_TOKEN_VALIDITY : raw;
  const problem = checkDuration(text);
  if (problem) {
    v.add('validFor', problem);
    return 0;
  }
  const ms = parseDuration(text as string);
  if (ms < 1000) v.add('validFor', `must be at least 1s, got ${show(raw)}`);
  return ms;
}

function optionalName(v: ViolationCollector, field: string, raw: unknown): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || raw.length > 253) v.add(field, `must be a string of at most 253 characters, got ${show(raw)}`);
  return raw as string;
}

function requiredName(v: ViolationCollector, field: string, raw: unknown): string {
  if (raw === undefined || raw === '') v.add(field, 'is required');
  else if (typeof raw !== 'string' || raw.length > 253) v.add(field, `must be a string of at most 253 characters, got ${show(raw)}`);
  return raw as string;
}

function tags(v: ViolationCollector, raw: unknown): Record<string, string[]> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    v.add('tags', `must map tag names to lists of values, e.g. {"kuma.io/service": ["web"]}, got ${show(raw)}`);
    return undefined;
  }
  const out: Record<string, string[]> = {};
  for (const [k, val] of Object.entries(raw as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) {
    // Kuma's request takes lists; a single string is accepted as a list of one.
    const list = typeof val === 'string' ? [val] : val;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) v.add(`tags["${k}"]`, `must be a list of strings, got ${show(val)}`);
    else out[k] = [...new Set(list as string[])].sort();
  }
  return out;
}

/** The token routes; `zoneTokens: false` leaves out /tokens/zone (zone CPs: zone tokens come from global). */
export function tokenRoutes(issuer: TokenIssuer, opts: { zoneTokens?: boolean } = {}): ExtraRoute[] {
  const routes: ExtraRoute[] = [
    {
      method: 'POST',
      path: '/tokens/dataplane',
      async handler(req) {
        const v = new ViolationCollector();
        const b = asObject(req.body, v);
        const mesh = requiredName(v, 'mesh', b.mesh);
        const name = optionalName(v, 'name', b.name);
        const type = b.type ?? 'dataplane';
        if (type !== 'dataplane' && type !== 'ingress') v.add('type', `must be dataplane or ingress, got ${show(type)}`);
        const t = tags(v, b.tags);
        const ms = validFor(v, b.validFor);
        v.throwIfAny('invalid dataplane token request');
        const token = await issuer.issueDataplane({ mesh, name, tags: t, type: type as 'dataplane' | 'ingress', validForMs: ms });
        return { status: 200, body: token, contentType: 'text/plain; charset=utf-8' };
      },
    },
  ];
  if (opts.zoneTokens !== false) {
    routes.push({
      method: 'POST',
      path: '/tokens/zone',
      async handler(req) {
        const v = new ViolationCollector();
        const b = asObject(req.body, v);
        const zone = requiredName(v, 'zone', b.zone);
        const rawScope = b.scope ?? ['cp', 'ingress'];
        const scope: ('cp' | 'ingress')[] = [];
        if (!Array.isArray(rawScope) || rawScope.length === 0) v.add('scope', `must be a non-empty list of ${ZONE_SCOPES.join(', ')}, got ${show(rawScope)}`);
        else
          rawScope.forEach((s, i) => {
            if (s === 'cp' || s === 'ingress') scope.push(s);
            else v.add(`scope[${i}]`, `must be one of ${ZONE_SCOPES.join(', ')}, got ${show(s)}`);
          });
        const ms = validFor(v, b.validFor);
        v.throwIfAny('invalid zone token request');
        const token = await issuer.issueZone({ zone, scope, validForMs: ms });
        return { status: 200, body: token, contentType: 'text/plain; charset=utf-8' };
      },
    });
  }
  return routes;
}
