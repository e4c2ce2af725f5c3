/** Starts a test ADS server and embedded engines against it, with teardown. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildBootstrap } from '../../../../envoy-bootstrap/index';
import { silentLogger } from '../../../../lib/logger';
import { EmbeddedEngine } from '../../../../agent/engine/embedded/embedded-engine';
import { T, TestAdsServer } from './ads-server';
import { createCa, identity, type TestCa } from './pki';
import * as R from './resources';
import { until } from './apps';

/**
 * Starts a test ADS server over TLS on 127.0.0.1:0, its certificate issued by a fresh CP CA
 * (engines trust `cpCa.certPem`, as kuma-dp trusts the CP's CA); stopped by `t.teardown`.
 */
export async function startAdsServer(t: { teardown(fn: () => unknown): void }): Promise<{ ads: TestAdsServer; cpCa: TestCa }> {
  const cpCa = createCa('cp');
  const cpCert = cpCa.issue({ cn: 'kuma-cp', ips: ['127.0.0.1'], dns: ['localhost'] });
  const ads = new TestAdsServer();
  await ads.start({ cert: cpCert.certPem, key: cpCert.keyPem });
  t.teardown(() => ads.stop());
  return { ads, cpCa };
}

/** Starts an engine for dataplane `name` of `mesh`; stopped by `t.teardown`. */
export async function startEngine(t: { teardown(fn: () => unknown): void }, o: { mesh: string; name: string; adsPort: number; adsCaPem: string; token?: string; drainTimeMs?: number; maxConnections?: number }): Promise<EmbeddedEngine> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-'));
  const bootstrap = buildBootstrap({
    mesh: o.mesh,
    name: o.name,
    proxyType: 'dataplane',
    service: o.name,
    cpHost: '127.0.0.1',
    cpPort: o.adsPort,
    cpCaPem: o.adsCaPem,
    dataplaneToken: o.token ?? `token-of-${o.name}`,
    adminPort: 0,
    maxDownstreamConnections: o.maxConnections,
  });
  const engine = new EmbeddedEngine({ bootstrap, bootstrapPath: path.join(workDir, 'bootstrap.json'), workDir, drainTimeMs: o.drainTimeMs ?? 500, logLevel: 'warn', extraArgs: [], log: silentLogger() });
  t.teardown(async () => {
    engine.destroy();
    fs.rmSync(workDir, { recursive: true, force: true });
  });
  await engine.start();
  return engine;
}

/** GETs a path of the engine's admin endpoint. */
export async function admin(engine: EmbeddedEngine, p: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${engine.adminAddress()}${p}`);
  return { status: res.status, body: await res.text() };
}

/**
 * Starts sidecar `web` of `mesh` in front of the HTTP app on `appPort`: inbound listener
 * `inbound` (mTLS, callers `frontend` only), outbound listener `direct` (one plain hop to
 * the app) and any `extraListeners`; resolves once it is ready.
 */
export async function startWeb(t: { teardown(fn: () => unknown): void }, o: { ads: TestAdsServer; cpCa: TestCa; ca: TestCa; mesh: string; appPort: number; extraListeners?: unknown[] }): Promise<EmbeddedEngine> {
  const web = await startEngine(t, { mesh: o.mesh, name: 'web', adsPort: o.ads.port, adsCaPem: o.cpCa.certPem });
  const node = `${o.mesh}.web`;
  const app = `localhost:${o.appPort}`;
  o.ads.set(node, T.Secret, R.secrets(identity(o.ca, o.mesh, 'web'), o.ca.certPem));
  o.ads.set(node, T.Cluster, [R.localCluster(o.appPort)]);
  o.ads.set(node, T.Listener, [
    R.inboundListener('inbound', 0, o.mesh, [`spiffe://${o.mesh}/frontend`], R.hcm('in', { cluster: app })),
    R.outboundListener('direct', 0, R.hcm('direct', { cluster: app })),
    ...(o.extraListeners ?? []),
  ]);
  await until(() => web.isReady(), 'web ready');
  return web;
}

/**
 * Starts sidecar `frontend` of `mesh` whose HTTP outbound listener `outbound:web` routes
 * everything (RDS) over mTLS to service `web` at `webInboundPort` (a sidecar's inbound
 * listener); resolves once it is ready.
 */
export async function startFrontend(t: { teardown(fn: () => unknown): void }, o: { ads: TestAdsServer; cpCa: TestCa; ca: TestCa; mesh: string; webInboundPort: number }): Promise<EmbeddedEngine> {
  const fe = await startEngine(t, { mesh: o.mesh, name: 'frontend', adsPort: o.ads.port, adsCaPem: o.cpCa.certPem });
  const node = `${o.mesh}.frontend`;
  o.ads.set(node, T.Secret, R.secrets(identity(o.ca, o.mesh, 'frontend'), o.ca.certPem));
  o.ads.set(node, T.Cluster, [R.meshCluster('web', o.mesh, 'web', `web{mesh=${o.mesh}}`)]);
  o.ads.set(node, T.ClusterLoadAssignment, [R.assignment('web', [{ port: o.webInboundPort }])]);
  o.ads.set(node, T.RouteConfiguration, [R.routeConfig('outbound:web', [{ match: { prefix: '/' }, cluster: 'web' }])]);
  o.ads.set(node, T.Listener, [R.outboundListener('outbound:web', 0, R.hcm('out', { rds: 'outbound:web' }))]);
  await until(() => fe.isReady(), 'frontend ready');
  return fe;
}
