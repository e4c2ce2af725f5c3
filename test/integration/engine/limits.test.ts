/**
 * The bootstrap's `overload.global_downstream_max_connections` (Kuma sets it in a static
 * runtime layer) caps connections across all listeners; refusals are counted as overflow
 * and capacity comes back when connections close.
 */
import net from 'node:net';
import t from 'tap';
import { T } from './harness/ads-server';
import * as R from './harness/resources';
import { echoApp, tcpExchange, until } from './harness/apps';
import { admin, startAdsServer, startEngine } from './harness/engine';

t.test('global downstream connection cap', async (t) => {
  const { ads, cpCa } = await startAdsServer(t);
  const echo = await echoApp('echo');
  t.teardown(() => echo.server.close());
  const e = await startEngine(t, { mesh: 'default', name: 'capped', adsPort: ads.port, adsCaPem: cpCa.certPem, maxConnections: 3 });
  ads.set('default.capped', T.Cluster, [R.localCluster(echo.port)]);
  ads.set('default.capped', T.Listener, [R.outboundListener('out:a', 0, R.tcpProxy('a', `localhost:${echo.port}`)), R.outboundListener('out:b', 0, R.tcpProxy('b', `localhost:${echo.port}`))]);
  await until(() => e.isReady(), 'ready');
  const a = e.listenerPort('out:a')!;
  const b = e.listenerPort('out:b')!;
  const held: net.Socket[] = [];
  t.teardown(() => held.forEach((s) => s.destroy()));
  for (const port of [a, a, b]) {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d));
    s.write('x');
    await until(() => got === 'echo:x', 'held connection echoes');
    held.push(s);
  }
  const refused = await tcpExchange(b, 'y', 'echo:y'.length);
  t.equal(refused, '', 'the 4th connection (other listener) is closed without data');
  t.match((await admin(e, '/stats')).body, /listener\.out:b\.downstream_cx_overflow: 1\n/, 'overflow counted');
  held.pop()!.destroy();
  await until(async () => (await tcpExchange(b, 'z', 'echo:z'.length)) === 'echo:z', 'a slot frees up when a connection closes');
  t.pass('accepted again below the cap');
});
