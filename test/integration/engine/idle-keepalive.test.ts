/**
 * An app closes an idle keep-alive connection after its own keepAliveTimeout (Node's
 * default is 5 s; here 1 s). The next request through the engine must still be answered
 * by the app, not hang until the route timeout: both when the app sits behind a plain
 * HTTP cluster of one sidecar, and on the full mesh path caller -> sidecar -> mTLS ->
 * sidecar -> app.
 */
import http from 'node:http';
import type net from 'node:net';
import t from 'tap';
import { TestAdsServer, T } from './harness/ads-server';
import { createCa, identity } from './harness/pki';
import * as R from './harness/resources';
import { until } from './harness/apps';
import { startEngine } from './harness/engine';

const MESH = 'default';
/**
 * The Node app's keep-alive timeout. Node 20 closes an idle connection about 1 s after it
 * and announces `Keep-Alive: timeout=2`, which its Agent keeps only for 2 s - 1 s.
 */
const NODE_APP_KEEPALIVE_MS = 2000;
/** The other app announces nothing and closes connections idle for this long (like servers that send no Keep-Alive hint). */
const HINTLESS_IDLE_MS = 1000;
/** Pause between requests: longer than either app keeps an idle connection. */
const PAUSE_MS = NODE_APP_KEEPALIVE_MS + 1500;
/** A hung request is given up after this (far below the 15 s route timeout, far above a normal answer). */
const ANSWER_WITHIN_MS = 5000;

function get(port: number, agent: http.Agent | false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/idle', agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${ANSWER_WITHIN_MS} ms`)), ANSWER_WITHIN_MS);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}

t.test('a pooled upstream connection closed by the app while idle does not hang the next request', async (t) => {
  const ca = createCa(MESH);
  const cpCa = createCa('cp');
  const cpCert = cpCa.issue({ cn: 'kuma-cp', ips: ['127.0.0.1'], dns: ['localhost'] });
  const ads = new TestAdsServer();
  await ads.start({ cert: cpCert.certPem, key: cpCert.keyPem });
  t.teardown(() => ads.stop());

  const served = new Map<string, number>();
  const startApp = async (name: string, idle: (srv: http.Server) => void) => {
    const app = http.createServer((req, res) => {
      served.set(name, (served.get(name) ?? 0) + 1);
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ app: name, n: served.get(name) })));
    });
    idle(app);
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    t.teardown(() => {
      app.closeAllConnections();
      app.close();
    });
    return (app.address() as net.AddressInfo).port;
  };
  const nodeApp = (a: http.Server) => (a.keepAliveTimeout = NODE_APP_KEEPALIVE_MS);
  // keepAliveTimeout 0 sends no hint; the socket timeout then closes idle connections.
  const hintlessApp = (a: http.Server) => {
    a.keepAliveTimeout = 0;
    a.timeout = HINTLESS_IDLE_MS;
  };
  // One app per path, so that no two paths share the upstream pool of one sidecar.
  const apps: Record<string, number> = {
    'node-direct': await startApp('node-direct', nodeApp),
    'node-full': await startApp('node-full', nodeApp),
    'hintless-direct': await startApp('hintless-direct', hintlessApp),
    'hintless-full': await startApp('hintless-full', hintlessApp),
  };

  // Sidecar `web`: each app behind an mTLS inbound listener and behind a plain listener (one-hop path).
  const webNode = `${MESH}.web`;
  const web = await startEngine(t, { mesh: MESH, name: 'web', adsPort: ads.port, adsCaPem: cpCa.certPem });
  ads.set(webNode, T.Secret, R.secrets(identity(ca, MESH, 'web'), ca.certPem));
  ads.set(webNode, T.Cluster, Object.values(apps).map((port) => R.localCluster(port)));
  ads.set(
    webNode,
    T.Listener,
    Object.entries(apps).flatMap(([name, port]) => [
      R.inboundListener(`inbound:${name}`, 0, MESH, [`spiffe://${MESH}/frontend`], R.hcm(`in_${name}`, { cluster: `localhost:${port}` })),
      R.outboundListener(`direct:${name}`, 0, R.hcm(`direct_${name}`, { cluster: `localhost:${port}` })),
    ]),
  );
  await until(() => web.isReady(), 'web ready');

  // Sidecar `frontend`: the caller's outbound to each app's inbound over mTLS.
  const feNode = `${MESH}.frontend`;
  const fe = await startEngine(t, { mesh: MESH, name: 'frontend', adsPort: ads.port, adsCaPem: cpCa.certPem });
  ads.set(feNode, T.Secret, R.secrets(identity(ca, MESH, 'frontend'), ca.certPem));
  ads.set(feNode, T.Cluster, Object.keys(apps).map((name) => R.meshCluster(name, MESH, 'web', 'web{mesh=default}')));
  ads.set(feNode, T.ClusterLoadAssignment, Object.keys(apps).map((name) => R.assignment(name, [{ port: web.listenerPort(`inbound:${name}`)! }])));
  ads.set(feNode, T.RouteConfiguration, Object.keys(apps).map((name) => R.routeConfig(`outbound:${name}`, [{ match: { prefix: '/' }, cluster: name }])));
  ads.set(feNode, T.Listener, Object.keys(apps).map((name) => R.outboundListener(`outbound:${name}`, 0, R.hcm(`out_${name}`, { rds: `outbound:${name}` }))));
  await until(() => fe.isReady(), 'frontend ready');

  const pause = () => new Promise((r) => setTimeout(r, PAUSE_MS));
  // All four paths share the pauses, so that the file stays well under a minute.
  const paths = ['node', 'hintless'].flatMap((kind) => [
    { what: `${kind} app, one sidecar (engine -> app)`, app: `${kind}-direct`, port: web.listenerPort(`direct:${kind}-direct`)! },
    { what: `${kind} app, full path (caller -> sidecar -> mTLS -> sidecar -> app)`, app: `${kind}-full`, port: fe.listenerPort(`outbound:${kind}-full`)! },
  ]);
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  for (const p of paths) t.equal((await get(p.port, agent)).status, 200, `${p.what}: first request answered`);
  for (let round = 1; round <= 2; round++) {
    await pause();
    // Round 1 reuses the caller's connection to its sidecar, round 2 opens a new one.
    const callerAgent = round === 1 ? agent : false;
    await Promise.all(
      paths.map(async (p) => {
        const before = served.get(p.app) ?? 0;
        const r = await get(p.port, callerAgent).catch((e: Error) => ({ status: 0, body: e.message }));
        t.equal(r.status, 200, `${p.what}: request after ${PAUSE_MS} ms idle (round ${round}) answered: ${r.body.trim()}`);
        t.equal(served.get(p.app), before + 1, `${p.what}: the app served it once`);
      }),
    );
  }
});
