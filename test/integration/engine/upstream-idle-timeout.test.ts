/**
 * A cluster's HttpProtocolOptions common_http_protocol_options.idle_timeout bounds how long
 * the engine keeps a pooled HTTP/1 upstream connection idle (Envoy's meaning; Kuma's
 * Timeout `http.idleTimeout`, 1 h by default, which the CP sets on mesh clusters). Without
 * it the engine's own 4 s applies, on the lean forwarder and on the node:http path alike.
 * The apps here never close an idle connection and send no Keep-Alive hint, so whatever
 * closes a connection is the engine.
 */
import http from 'node:http';
import type net from 'node:net';
import t from 'tap';
import { T } from './harness/ads-server';
import * as R from './harness/resources';
import { httpApp, until } from './harness/apps';
import { startAdsServer, startEngine } from './harness/engine';
import { UPSTREAM_IDLE_TIMEOUT_MS } from '../../../agent/engine/embedded/clusters/cluster-manager';

/** A cluster to a local app with the given idle_timeout (undefined: none set). */
function clusterWithIdle(port: number, idleTimeout: string | undefined): any {
  const c = R.localCluster(port);
  if (idleTimeout === undefined) return c;
  return {
    ...c,
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        common_http_protocol_options: { idle_timeout: idleTimeout },
        explicit_http_config: { http_protocol_options: {} },
      },
    },
  };
}

/** One request on a new connection; `expectContinue` sends it with `Expect: 100-continue`, which the engine carries on its node:http path. */
function get(port: number, expectContinue = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = expectContinue ? { expect: '100-continue', 'content-length': 2 } : {};
    const req = http.request({ host: '127.0.0.1', port, path: '/', method: expectContinue ? 'POST' : 'GET', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    if (expectContinue) req.on('continue', () => req.end('hi'));
    else req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test("a cluster's idle_timeout bounds its pooled connections, shorter and longer than the default", async (t) => {
  const { ads, cpCa } = await startAdsServer(t);

  // Each case has its own app, so connections are counted per cluster.
  const cases = [
    { what: 'idle_timeout 300ms', idle: '0.300s', pauseMs: 1800, connections: 2 },
    { what: 'no idle_timeout (the engine default), short pause', idle: undefined, pauseMs: 1800, connections: 1 },
    { what: 'idle_timeout 3600s', idle: '3600s', pauseMs: UPSTREAM_IDLE_TIMEOUT_MS + 1500, connections: 1 },
    { what: 'idle_timeout 0s (no limit)', idle: '0s', pauseMs: UPSTREAM_IDLE_TIMEOUT_MS + 1500, connections: 1 },
    { what: 'no idle_timeout (the engine default), long pause', idle: undefined, pauseMs: UPSTREAM_IDLE_TIMEOUT_MS + 1500, connections: 2 },
    // The node:http path (Expect: 100-continue, Upgrade, HTTP/2 bridging) pools its own connections: the same limits.
    { what: 'idle_timeout 3600s, node:http path', idle: '3600s', pauseMs: UPSTREAM_IDLE_TIMEOUT_MS + 1500, connections: 1, expectContinue: true },
    { what: 'no idle_timeout, node:http path, long pause', idle: undefined, pauseMs: UPSTREAM_IDLE_TIMEOUT_MS + 1500, connections: 2, expectContinue: true },
  ];
  const apps = await Promise.all(
    cases.map(async () => {
      const { server: app, port } = await httpApp('app');
      // No keep-alive timer and no hint: the app never closes an idle connection itself.
      app.keepAliveTimeout = 0;
      const seen = { connections: 0, closed: 0 };
      app.on('connection', (s: net.Socket) => {
        seen.connections++;
        s.on('close', () => seen.closed++);
      });
      t.teardown(() => {
        app.closeAllConnections();
        app.close();
      });
      return { port, seen };
    }),
  );

  const node = 'default.web';
  const web = await startEngine(t, { mesh: 'default', name: 'web', adsPort: ads.port, adsCaPem: cpCa.certPem });
  ads.set(node, T.Cluster, cases.map((c, i) => clusterWithIdle(apps[i].port, c.idle)));
  ads.set(node, T.Listener, apps.map((a, i) => R.outboundListener(`out:${i}`, 0, R.hcm(`out_${i}`, { cluster: `localhost:${a.port}` }))));
  await until(() => web.isReady(), 'web ready');

  await Promise.all(
    cases.map(async (c, i) => {
      const port = web.listenerPort(`out:${i}`)!;
      t.equal(await get(port, c.expectContinue), 200, `${c.what}: first request answered`);
      await sleep(c.pauseMs);
      t.equal(await get(port, c.expectContinue), 200, `${c.what}: request after ${c.pauseMs} ms idle answered`);
      t.equal(apps[i].seen.connections, c.connections, `${c.what}: ${c.connections === 1 ? 'the pooled connection was reused' : 'the engine closed the idle connection and opened another'}`);
      if (c.connections === 2) t.equal(apps[i].seen.closed, 1, `${c.what}: the first connection was closed while idle`);
    }),
  );
});

t.test('common_http_protocol_options fields the engine does not implement draw a NACK naming them', async (t) => {
  const { ads, cpCa } = await startAdsServer(t);
  const node = 'default.web';
  const web = await startEngine(t, { mesh: 'default', name: 'web', adsPort: ads.port, adsCaPem: cpCa.certPem });
  const good = clusterWithIdle(40001, '60s');
  ads.set(node, T.Cluster, [good]);
  ads.set(node, T.Listener, [R.outboundListener('out', 0, R.hcm('out', { cluster: good.name }))]);
  await until(() => web.isReady(), 'web ready');
  const bad = structuredClone(good);
  bad.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].common_http_protocol_options.max_requests_per_connection = 10;
  const before = ads.nacks().length;
  ads.set(node, T.Cluster, [bad]);
  const nack = (await until(() => ads.nacks().slice(before).find((r) => r.node === node && r.typeUrl === T.Cluster), 'NACK'))!;
  t.match(nack.error, /common_http_protocol_options\.max_requests_per_connection/, `the NACK names the field: ${nack.error}`);
});
