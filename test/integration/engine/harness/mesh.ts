/**
 * A two-sidecar mesh for tests: `web` (inbound HTTP v1, HTTP v2, TCP echo) and
 * `frontend` (outbound HTTP via RDS and outbound TCP), both embedded engines on one
 * test ADS server with TLS.
 */
import { T, type TestAdsServer } from './ads-server';
import { createCa, identity, type TestCa } from './pki';
import * as R from './resources';
import { echoApp, httpApp, until } from './apps';
import { startAdsServer, startEngine } from './engine';
import type { EmbeddedEngine } from '../../../../agent/engine/embedded/embedded-engine';

export const MESH = 'default';
export const WEB = `${MESH}.web`;
export const FE = `${MESH}.frontend`;

/** Everything a test needs to poke at. */
export interface Mesh {
  ca: TestCa;
  /** CA of the test CP's TLS certificate (for more engines on the same ADS server). */
  adsCaPem: string;
  ads: TestAdsServer;
  web: EmbeddedEngine;
  fe: EmbeddedEngine;
  ports: { v1: number; v2: number; echo: number; outWeb: number; outEcho: number };
  apps: { v1: number; v2: number; echo: number };
  feListeners(): any[];
  feClusters(): any[];
}

/** Builds the mesh; everything is torn down with `t`. */
export async function startMesh(t: { teardown(fn: () => unknown): void }, o: { feDrainMs?: number } = {}): Promise<Mesh> {
  const ca = createCa(MESH);
  const { ads, cpCa } = await startAdsServer(t);
  const v1 = await httpApp('web-v1');
  const v2 = await httpApp('web-v2');
  const echo = await echoApp('echo');
  t.teardown(() => {
    v1.server.close();
    v2.server.close();
    echo.server.close();
  });
  const allowed = [`spiffe://${MESH}/frontend`];
  const web = await startEngine(t, { mesh: MESH, name: 'web', adsPort: ads.port, adsCaPem: cpCa.certPem });
  ads.set(WEB, T.Secret, R.secrets(identity(ca, MESH, 'web'), ca.certPem));
  ads.set(WEB, T.Cluster, [R.localCluster(v1.port), R.localCluster(v2.port), R.localCluster(echo.port)]);
  ads.set(WEB, T.Listener, [
    R.inboundListener('inbound:web-v1', 0, MESH, allowed, R.hcm('web_v1', { cluster: `localhost:${v1.port}` })),
    R.inboundListener('inbound:web-v2', 0, MESH, allowed, R.hcm('web_v2', { cluster: `localhost:${v2.port}` })),
    R.inboundListener('inbound:echo', 0, MESH, allowed, R.tcpProxy('echo', `localhost:${echo.port}`)),
  ]);
  await until(() => web.isReady(), 'web ready');
  const p = { v1: web.listenerPort('inbound:web-v1')!, v2: web.listenerPort('inbound:web-v2')!, echo: web.listenerPort('inbound:echo')! };
  const fe = await startEngine(t, { mesh: MESH, name: 'frontend', adsPort: ads.port, adsCaPem: cpCa.certPem, drainTimeMs: o.feDrainMs });
  const feClusters = () => [
    R.meshCluster('web-v1', MESH, 'web', 'web{mesh=default,version=v1}', '1s'),
    R.meshCluster('web-v2', MESH, 'web', 'web{mesh=default,version=v2}', '1s'),
    R.meshCluster('echo', MESH, 'web', 'echo{mesh=default}', '1s'),
  ];
  const feListeners = () => [R.outboundListener('outbound:web', 0, R.hcm('outbound_web', { rds: 'outbound:web' })), R.outboundListener('outbound:echo', 0, R.tcpProxy('outbound_echo', 'echo'))];
  ads.set(FE, T.Secret, R.secrets(identity(ca, MESH, 'frontend'), ca.certPem));
  ads.set(FE, T.Cluster, feClusters());
  ads.set(FE, T.ClusterLoadAssignment, [R.assignment('web-v1', [{ port: p.v1 }]), R.assignment('web-v2', [{ port: p.v2 }]), R.assignment('echo', [{ port: p.echo }])]);
  ads.set(FE, T.RouteConfiguration, [R.routeConfig('outbound:web', [{ match: { prefix: '/' }, cluster: 'web-v1' }])]);
  ads.set(FE, T.Listener, feListeners());
  await until(() => fe.isReady(), 'frontend ready');
  return {
    ca,
    adsCaPem: cpCa.certPem,
    ads,
    web,
    fe,
    ports: { ...p, outWeb: fe.listenerPort('outbound:web')!, outEcho: fe.listenerPort('outbound:echo')! },
    apps: { v1: v1.port, v2: v2.port, echo: echo.port },
    feListeners,
    feClusters,
  };
}
