/**
 * Stand-in for `kuma-cp run` (standalone) while the binary does not yet serve xDS: the
 * same kuma-cp assembly (buildControlPlane with the KUMA_* config, store, default mesh,
 * REST API) plus the default policies, the xDS server and the DP server, built from
 * the project's own cp/ modules. Used by bench/ads-load only when `kuma-cp run` does
 * not open its DP server port; the results say which one ran.
 * Prints `{"msg":"cp-host ready","api":N,"dp":N,"plaintext":N}` on stdout.
 */
import { loadConfig } from '../../cp/config/config';
import { createLogger } from '../../lib/logger';
import { buildControlPlane, type ComponentFactory } from '../../cp/run';
import { DefaultPoliciesComponent } from '../../cp/xds/server/default-policies';
import { XdsServer } from '../../cp/xds/server/xds-server';
import { DpServer } from '../../cp/dp-server/dp-server';
import { ensureDpServerTls } from '../../cp/dp-server/tls-material';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = createLogger('kuma-cp', process.env.KUMA_LOG_LEVEL ?? 'info');
  let dp: DpServer | undefined;
  const xdsFactory: ComponentFactory = (ctx) => {
    const authn = ctx.config.dpServer.authn.dpProxy.type;
    if (authn !== 'none') throw new Error('cp-host supports KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE=none only');
    const xds = new XdsServer({ store: ctx.store, log: ctx.log, cp: { zone: '', vipPort: ctx.config.dnsServer.serviceVipPort }, authn });
    dp = new DpServer({
      port: ctx.config.dpServer.port,
      plaintextPort: ctx.config.dpServer.plaintextPort,
      host: '127.0.0.1',
      tls: ensureDpServerTls({ workDir: ctx.config.general.workDir, log: ctx.log }),
      xds,
      log: ctx.log.child({ component: 'dp-server' }),
      handlers: { store: ctx.store, authn },
    });
    return [new DefaultPoliciesComponent(ctx.store, ctx.log), xds, dp];
  };
  const cp = await buildControlPlane(config, log, { extraFactories: [xdsFactory] });
  await cp.start();
  process.stdout.write(JSON.stringify({ msg: 'cp-host ready', api: cp.apiServer.port, dp: dp!.port, plaintext: dp!.plaintextPort }) + '\n');
  process.once('SIGTERM', () => {
    void cp.stop(5000).then(() => process.exit(0));
  });
}

main().catch((err) => {
  process.stderr.write(`cp-host: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
