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
import { T } from './harness/ads-server';
import { createCa, identity } from './harness/pki';
import * as R from './harness/resources';
import { until } from './harness/apps';
import { admin, startAdsServer, startEngine } from './harness/engine';

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
  const { ads, cpCa } = await startAdsServer(t);

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

t.test('an upstream connection reset before the response: one retry for a reused idempotent request, else 503 at once', async (t) => {
  const { ads, cpCa } = await startAdsServer(t);

  // The app answers the first request of each connection; a later one on the same connection
  // is dropped unanswered (the race of a keep-alive close with a reused connection), and
  // /drop drops even a first request.
  const perSocket = new WeakMap<net.Socket, number>();
  let seen = 0;
  const app = http.createServer((req, res) => {
    seen++;
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    req.resume();
    req.on('end', () => {
      if (n > 1 || req.url === '/drop') return void req.socket.destroy();
      res.end(`answered ${req.method} on a new connection`);
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    app.closeAllConnections();
    app.close();
  });
  const appPort = (app.address() as net.AddressInfo).port;
  const node = `${MESH}.resets`;
  const engine = await startEngine(t, { mesh: MESH, name: 'resets', adsPort: ads.port, adsCaPem: cpCa.certPem });
  ads.set(node, T.Cluster, [R.localCluster(appPort)]);
  ads.set(node, T.Listener, [R.outboundListener('direct', 0, R.hcm('direct', { cluster: `localhost:${appPort}` }))]);
  await until(() => engine.isReady(), 'engine ready');
  const port = engine.listenerPort('direct')!;
  const send = (method: string, path: string, body?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: body ? { 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
        });
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${ANSWER_WITHIN_MS} ms`)), ANSWER_WITHIN_MS);
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.end(body);
    });
  const retries = async () => Number((await admin(engine, '/stats')).body.match(new RegExp(`cluster\\.localhost:${appPort}\\.upstream_rq_retry: (\\d+)`))?.[1] ?? -1);

  t.equal((await send('GET', '/')).status, 200, 'first GET answered (its connection is pooled)');
  const before = seen;
  const again = await send('GET', '/');
  t.same(again, { status: 200, body: 'answered GET on a new connection' }, 'a GET reset on the reused connection is retried once on a new one');
  t.equal(seen, before + 2, 'the app saw the dropped attempt and the retry');
  t.equal(await retries(), 1, 'upstream_rq_retry counts it');

  // The retry's connection is pooled now: the POST reuses it and is dropped.
  const post = await send('POST', '/', 'x=2');
  t.equal(post.status, 503, `a POST with a body reset on the reused connection is not retried: 503 (${post.body.trim()})`);
  t.equal(await retries(), 1, 'no retry counted for it');

  // The pool is empty now: /drop goes out on a new connection.
  const drop = await send('GET', '/drop');
  t.equal(drop.status, 503, `a reset on a new connection answers 503 at once, no retry (${drop.body.trim()})`);
  t.equal(await retries(), 1, 'no retry counted for it');
});
