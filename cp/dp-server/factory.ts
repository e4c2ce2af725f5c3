/**
 * kuma-cp wiring of the data plane side: the xDS server (cache, reconciler, ADS) and
 * the DP server that hosts it with /bootstrap and /dns/vips, plus Kuma's default
 * policies for new meshes. Used by cp/run.ts for standalone and zone modes.
 */
import { BuiltinCaManager } from '../ca/builtin-ca-manager';
import type { CaManager } from '../ca/types';
import { normaliseForZone } from '../kds/write-guards';
import type { TokenVerifier } from '../tokens/types';
import type { VipAllocator } from '../vips/types';
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

/** Loads an export of a sibling module if the build has it (cp/tokens, cp/vips land independently). */
function optionalExport(module: string, name: string): any {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(module)[name];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    return undefined;
  }
}

/** Default dependencies: the builtin CA, and the store-backed token verifier when the build has it. */
function defaultDeps(ctx: CpContext): DpServerDeps {
  const ca = new BuiltinCaManager({ store: ctx.store, log: ctx.log.child({ component: 'ca' }), createMissing: ctx.config.mode !== 'zone' });
  const Verifier = optionalExport('../tokens', 'StoreTokenVerifier');
  const tokens = typeof Verifier === 'function' ? (new Verifier(ctx.store) as TokenVerifier) : undefined;
  return { ca, tokens };
}

/** The xDS server and the DP server (bootstrap + ADS), for standalone and zone CPs. */
export function dpServerFactory(deps?: (ctx: CpContext) => DpServerDeps | Promise<DpServerDeps>): ComponentFactory {
  return async (ctx) => {
    const d = { ...defaultDeps(ctx), ...(deps ? await deps(ctx) : {}) };
    const cfg = ctx.config;
    const zone = cfg.mode === 'zone' ? cfg.multizone.zone.name ?? '' : '';
    const authn = cfg.dpServer.authn.dpProxy.type;
    const log = ctx.log.child({ component: 'dp-server' });
    if (authn === 'dpToken' && !d.tokens) log.error('dataplane token verification is not available in this build (cp/tokens); every dataplane will be refused. Set KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE=none to run without tokens.');
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
        beforeRegister: zone ? (input) => normaliseForZone(zone, input) : undefined,
      },
    });
    return [xds, dp];
  };
}

/** Creates `route-all-<mesh>` and `allow-all-<mesh>` with every new mesh (standalone and global; zones get them from global). */
export const defaultPoliciesFactory: ComponentFactory = (ctx) => new DefaultPoliciesComponent(ctx.store, ctx.log.child({ component: 'default-policies' }));
