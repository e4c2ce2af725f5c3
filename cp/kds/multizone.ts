/**
 * The multi-zone pieces of kuma-cp, as component factories for cp/run.ts:
 * `globalKdsFactory` (KDS server, zone insights routes, the global write guard) and
 * `zoneKdsFactory` (KDS client, ingress availableServices, the zone write guard and
 * normaliser).
 */
import fs from 'node:fs';
import type { Component } from '../../lib/component';
import { AuthError, UsageError } from '../../lib/errors';
import type { ComponentFactory, CpContext } from '../run';
import { StoreTokenVerifier, type TokenVerifier } from '../tokens';
import { IngressUpdater } from '../ingress/ingress-updater';
import { ZoneInsights } from '../zones/zone-insights';
import { ensureDpServerTls } from '../dp-server/tls-material';
import { KdsZoneClient } from './kds-client';
import { KdsServer, type ZoneAuthenticator } from './kds-server';
import { globalWriteGuard, zoneWriteGuard } from './write-guards';

/** Authenticates zones with zone tokens (kind `zone`, for the connecting zone). */
export function tokenAuthenticator(verifier: TokenVerifier): ZoneAuthenticator {
  return async (zone, token) => {
    if (!token) throw new AuthError('no zone token in metadata "authorization"; set KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH on the zone');
    const claims = await verifier.verify(token, { kind: 'zone', zone });
    return { tokenId: claims.id, expiresAt: claims.expiresAt };
  };
}

/** How the global factory gets its authenticator; tests may replace it. */
export type AuthenticatorProvider = (ctx: CpContext) => ZoneAuthenticator | Promise<ZoneAuthenticator>;

/** Options of globalKdsFactory. */
export interface GlobalKdsOptions {
  authenticator: AuthenticatorProvider;
  /** Receives the server (tests read its port and state). */
  onServer?: (server: KdsServer, insights: ZoneInsights) => void;
}

/** Global mode: the KDS server, `/zones+insights` routes and the global write guard. */
export function globalKdsFactory(opts: GlobalKdsOptions): ComponentFactory {
  return async (ctx) => {
    const { config, store, log } = ctx;
    // One CP certificate for every TLS port: the DP server's (configured, or generated once
    // into the work dir), so zones trust global with the same CA file kuma-dp uses.
    const tls = ensureDpServerTls({
      workDir: config.general.workDir,
      certFile: config.general.tlsCertFile,
      keyFile: config.general.tlsKeyFile,
      log: log.child({ component: 'kds-server' }),
    });
    const insights = new ZoneInsights();
    for (const r of insights.routes(store)) ctx.api.addRoute(r);
    ctx.api.addWriteGuard(globalWriteGuard());
    const server = new KdsServer({
      store,
      log: log.child({ component: 'kds-server' }),
      insights,
      authenticate: await opts.authenticator(ctx),
      host: config.apiServer.http.interface,
      port: config.multizone.global.kds.grpcPort,
      tls,
    });
    opts.onServer?.(server, insights);
    return server;
  };
}

/** Reads the zone token (file first, then inline), trimmed; undefined when neither is set. */
export function zoneTokenReader(path: string | undefined, inline: string | undefined): () => string | undefined {
  return () => {
    if (path) return fs.readFileSync(path, 'utf8').trim();
    return inline?.trim() || undefined;
  };
}

/** Zone mode: the KDS client (when a global address is set), the ingress updater and the zone write guard. */
export function zoneKdsFactory(): ComponentFactory {
  return (ctx) => {
    const { config, store, log } = ctx;
    const zone = config.multizone.zone.name;
    if (!zone) throw new UsageError('zone mode needs KUMA_MULTIZONE_ZONE_NAME');
    ctx.api.addWriteGuard(zoneWriteGuard(zone));
    const components: Component[] = [new IngressUpdater({ store, log: log.child({ component: 'ingress-updater', zone }), zone })];
    const { globalAddress, kds } = config.multizone.zone;
    if (!globalAddress) {
      log.warn({ zone }, 'KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS is not set: this zone runs without a global control plane');
      return components;
    }
    let rootCaPem: string | undefined;
    if (kds.rootCaFile) {
      try {
        rootCaPem = fs.readFileSync(kds.rootCaFile, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE ${kds.rootCaFile}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (!kds.auth.cpTokenPath && !kds.auth.cpTokenInline) {
      log.warn({ zone }, 'no zone token configured (KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH or _INLINE): global will refuse this zone');
    }
    components.push(
      new KdsZoneClient({
        store,
        log: log.child({ component: 'kds-client', zone }),
        zone,
        globalAddress,
        rootCaPem,
        token: zoneTokenReader(kds.auth.cpTokenPath, kds.auth.cpTokenInline),
      }),
    );
    return components;
  };
}

/** The authenticator kuma-cp uses: zone tokens (scope `cp`) verified by cp/tokens from global's zone-token public key. */
export const storeTokenAuthenticator: AuthenticatorProvider = (ctx) =>
  tokenAuthenticator(new StoreTokenVerifier(ctx.store, { log: ctx.log.child({ component: 'kds-auth' }) }));
