/**
 * kuma-cp wiring of the data plane side: the xDS server (cache, reconciler, ADS) and
 * the DP server that hosts it with /bootstrap and /dns/vips, plus Kuma's default
 * policies for new meshes. Used by cp/run.ts for standalone and zone modes.
 */
import { BuiltinCaManager } from '../ca/builtin-ca-manager';
import type { CaManager } from '../ca/types';
import { normaliseForZone } from '../kds/write-guards';
import { StoreTokenVerifier } from '../tokens/index';
import type { TokenVerifier } from '../tokens/types';
import { StoreVipAllocator } from '../vips/index';
import type { VipAllocator } from '../vips/types';
import type { Component } from '../../lib/component';
import type { ComponentFactory, CpContext } from '../run';
import { DefaultPoliciesComponent } from '../xds/server/default-policies';
import { XdsServer } from '../xds/server/xds-server';
import { DpServer } from './dp-server';
import { ensureDpServerTls } from './tls-material';

/** Services the DP side uses, made by other parts of the CP. */
export interface DpServerDeps {
  ca?: CaManager;
  tokens?: TokenVerifier;
  vips?: VipAllocator;
}

/** Default dependencies: the builtin CA, the store-backed token verifier and VIP allocator. */
function defaultDeps(ctx: CpContext): DpServerDeps & { components: Component[] } {
  const ca = new BuiltinCaManager({ store: ctx.store, log: ctx.log.child({ component: 'ca' }), createMissing: ctx.config.mode !== 'zone' });
  const tokens = new StoreTokenVerifier(ctx.store, { log: ctx.log.child({ component: 'dp-auth' }) });
  const vips = new StoreVipAllocator({ store: ctx.store, cidr: ctx.config.dnsServer.CIDR, log: ctx.log.child({ component: 'vips' }) });
  return { ca, tokens, vips, components: [vips] };
}

/** The xDS server and the DP server (bootstrap + ADS), for standalone and zone CPs. */
export function dpServerFactory(deps?: (ctx: CpContext) => DpServerDeps | Promise<DpServerDeps>): ComponentFactory {
  return async (ctx) => {
    const given = deps ? await deps(ctx) : {};
    const defaults = defaultDeps(ctx);
    const d = { ca: given.ca ?? defaults.ca, tokens: given.tokens ?? defaults.tokens, vips: given.vips ?? defaults.vips };
    // The VIP allocator is a component of its own when it is ours: it starts before the xDS server reads it.
    const own: Component[] = given.vips ? [] : defaults.components;
    const cfg = ctx.config;
    const zone = cfg.mode === 'zone' ? cfg.multizone.zone.name ?? '' : '';
    const authn = cfg.dpServer.authn.dpProxy.type;
    const log = ctx.log.child({ component: 'dp-server' });
    const xds = new XdsServer({ store: ctx.store, log: ctx.log, cp: { zone, vipPort: cfg.dnsServer.serviceVipPort }, authn, tokens: d.tokens, ca: d.ca, vips: d.vips });
    ctx.api.setDataplaneStatusProvider(xds.status);
    const tls = ensureDpServerTls({ workDir: cfg.general.workDir, certFile: cfg.general.tlsCertFile, keyFile: cfg.general.tlsKeyFile, log });
    const dp = new DpServer({
      port: cfg.dpServer.port,
      plaintextPort: cfg.dpServer.plaintextPort,
      tls,
      xds,
      log,
      handlers: {
        store: ctx.store,
        authn,
        tokens: d.tokens,
        vips: d.vips,
        zone,
        beforeRegister: zone ? (input) => normaliseForZone(zone, input) : undefined,
      },
    });
    return [...own, xds, dp];
  };
}

/** Creates `route-all-<mesh>` and `allow-all-<mesh>` with every new mesh (standalone and global; zones get them from global). */
export const defaultPoliciesFactory: ComponentFactory = (ctx) => new DefaultPoliciesComponent(ctx.store, ctx.log.child({ component: 'default-policies' }));
