/**
 * kuma-cp wiring of token issuing: `POST /tokens/dataplane` in every mode (a zone CP
 * signs with zone-suffixed keys, so global's synced public keys never clash with its
 * own) and `POST /tokens/zone` on standalone and global (zone tokens authenticate zones
 * to global).
 */
import type { ComponentFactory } from '../run';
import { TokenIssuer } from './token-issuer';
import { tokenRoutes } from './token-routes';

/** Registers the token routes on the API; no component of its own. */
export const tokenRoutesFactory: ComponentFactory = (ctx) => {
  const zone = ctx.config.mode === 'zone' ? ctx.config.multizone.zone.name : undefined;
  const issuer = new TokenIssuer({ store: ctx.store, zone, log: ctx.log.child({ component: 'tokens' }) });
  for (const r of tokenRoutes(issuer, { zoneTokens: ctx.config.mode !== 'zone' })) ctx.api.addRoute(r);
  return undefined;
};
