/**
 * An http_connection_manager's common_http_protocol_options.idle_timeout bounds how long a
 * downstream connection may stay without a request (Envoy's meaning; 1 h when unset, Envoy's
 * default). The engine checks idleness with a coarse clock every 5 s, so a limit holds to
 * within 5 s either way; several chains holding connections must not make that clock run
 * faster (it once advanced once per chain per sweep, closing connections N times too early).
 */
import net from 'node:net';
import t from 'tap';
import { T } from './harness/ads-server';
import * as R from './harness/resources';
import { httpApp, until } from './harness/apps';
import { startAdsServer, startEngine } from './harness/engine';

/** An HCM to `cluster` with the given idle_timeout (undefined: none set). */
function hcmWithIdle(prefix: string, cluster: string, idleTimeout: string | undefined): any {
  const f = R.hcm(prefix, { cluster });
  if (idleTimeout !== undefined) f.typed_config.common_http_protocol_options = { idle_timeout: idleTimeout };
  return f;
}

/** One keep-alive connection that made one request; `closedAt` is set when the engine closes it. */
async function openAndAsk(port: number): Promise<{ sock: net.Socket; closedAt?: number }> {
  const sock = net.connect(port, '127.0.0.1');
  const c: { sock: net.Socket; closedAt?: number } = { sock };
  sock.on('close', () => (c.closedAt = Date.now()));
  sock.on('error', () => undefined);
  let got = '';
  await new Promise<void>((resolve, reject) => {
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n') && got.endsWith('}')) resolve();
    });
    sock.once('close', () => reject(new Error(`closed before the answer: ${JSON.stringify(got)}`)));
    sock.write('GET / HTTP/1.1\r\nhost: app\r\n\r\n');
  });
  return c;
}

t.test("an HCM's idle_timeout closes idle downstream connections, however many chains hold connections", async (t) => {
  const { ads, cpCa } = await startAdsServer(t);
  const { server: app, port: appPort } = await httpApp('app');
  app.keepAliveTimeout = 0;
  t.teardown(() => {
    app.closeAllConnections();
    app.close();
  });
  const cluster = `localhost:${appPort}`;

  // One chain with a 1 s limit, one with none set (1 h), and four with 20 s: six chains
  // sweeping at once, which the old per-chain clock turned into a 6x faster one.
  const chains = [
    { name: 'short', idle: '1s' },
    { name: 'default', idle: undefined },
    ...[1, 2, 3, 4].map((i) => ({ name: `twenty-${i}`, idle: '20s' })),
  ];
  const web = await startEngine(t, { mesh: 'default', name: 'web', adsPort: ads.port, adsCaPem: cpCa.certPem });
  ads.set('default.web', T.Cluster, [R.localCluster(appPort)]);
  ads.set('default.web', T.Listener, chains.map((c) => R.outboundListener(c.name, 0, hcmWithIdle(c.name, cluster, c.idle))));
  await until(() => web.isReady(), 'web ready');

  const start = Date.now();
  const conns = new Map<string, { sock: net.Socket; closedAt?: number }>();
  for (const c of chains) conns.set(c.name, await openAndAsk(web.listenerPort(c.name)!));
  t.teardown(() => {
    for (const c of conns.values()) c.sock.destroy();
  });

  // 1 s + at most two 5 s sweeps.
  await until(() => conns.get('short')!.closedAt !== undefined, 'the 1 s connection closed', 12_000);
  t.ok(conns.get('short')!.closedAt! - start < 12_000, `idle_timeout 1s: closed after ${conns.get('short')!.closedAt! - start} ms`);
  // Hold until 11 s: the 20 s limit cannot have been reached, even a sweep early (15 s).
  const wait = 11_000 - (Date.now() - start);
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  for (const c of chains.filter((x) => x.name !== 'short')) {
    t.equal(conns.get(c.name)!.closedAt, undefined, `${c.idle ?? 'no idle_timeout'} (${c.name}): still open after ${Date.now() - start} ms idle`);
  }
  // And still usable.
  const d = conns.get('default')!.sock;
  const answer = await new Promise<string>((resolve) => {
    let got = '';
    d.on('data', (b) => {
      got += b.toString('latin1');
      if (got.endsWith('}')) resolve(got);
    });
    d.write('GET / HTTP/1.1\r\nhost: app\r\n\r\n');
  });
  t.match(answer, /^HTTP\/1\.1 200/, 'the default-limit connection still answers');
});
