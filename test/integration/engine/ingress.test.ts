/**
 * Zone ingress on the embedded engine: the listener reads the SNI from the ClientHello
 * (tls_inspector), picks the filter chain by server_names and passes the still-encrypted
 * bytes to an endpoint of the chosen cluster. The caller's mTLS session ends at the
 * destination sidecar, so the ingress never sees plaintext.
 */
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { T } from './harness/ads-server';
import * as R from './harness/resources';
import { request, tcpExchange, until } from './harness/apps';
import { admin, startEngine } from './harness/engine';
import { FE, MESH, startMesh } from './harness/mesh';
import { identity } from './harness/pki';

t.test('ingress forwards by SNI without terminating TLS', async (t) => {
  const m = await startMesh(t);
  const INGRESS = `${MESH}.ingress`;
  const ing = await startEngine(t, { mesh: MESH, name: 'ingress', adsPort: m.ads.port, adsCaPem: m.adsCaPem });
  m.ads.set(INGRESS, T.Cluster, [R.plainEdsCluster('web{mesh=default,version=v1}'), R.plainEdsCluster('web{mesh=default,version=v2}'), R.plainEdsCluster('echo{mesh=default}')]);
  m.ads.set(INGRESS, T.ClusterLoadAssignment, [
    R.assignment('web{mesh=default,version=v1}', [{ port: m.ports.v1 }]),
    R.assignment('web{mesh=default,version=v2}', [{ port: m.ports.v2 }]),
    R.assignment('echo{mesh=default}', [{ port: m.ports.echo }]),
  ]);
  m.ads.set(INGRESS, T.Listener, [
    R.ingressListener('inbound:ingress', 0, [
      { sni: 'web{mesh=default,version=v1}', cluster: 'web{mesh=default,version=v1}' },
      { sni: 'web{mesh=default,version=v2}', cluster: 'web{mesh=default,version=v2}' },
      { sni: 'echo{mesh=default}', cluster: 'echo{mesh=default}' },
    ]),
  ]);
  await until(() => ing.isReady(), 'ingress ready');
  const ingPort = ing.listenerPort('inbound:ingress')!;

  // The frontend now reaches web and echo only through the ingress (as for another zone).
  m.ads.set(FE, T.ClusterLoadAssignment, [R.assignment('web-v1', [{ port: ingPort }]), R.assignment('web-v2', [{ port: ingPort }]), R.assignment('echo', [{ port: ingPort }])]);
  await until(async () => JSON.parse((await admin(m.fe, '/clusters')).body).every((c: any) => c.endpoints.every((e: any) => e.address === `127.0.0.1:${ingPort}`)), 'frontend points at the ingress');

  t.test('HTTP and TCP through the ingress, chosen by SNI', async (t) => {
    for (let i = 0; i < 5; i++) t.equal(JSON.parse((await request(m.ports.outWeb, { path: `/via-ingress-${i}` })).body).app, 'web-v1');
    m.ads.set(FE, T.RouteConfiguration, [R.routeConfig('outbound:web', [{ match: { prefix: '/' }, cluster: 'web-v2' }])]);
    await until(async () => JSON.parse((await request(m.ports.outWeb)).body).app === 'web-v2', 'route to v2');
    t.equal(await tcpExchange(m.ports.outEcho, 'through-ingress', 'echo:through-ingress'.length), 'echo:through-ingress');
    const stats = (await admin(ing, '/stats')).body;
    t.match(stats, /cluster\.web\{mesh=default,version=v2\}\.upstream_cx_total: [1-9]/, 'the v2 chain was used');
    t.match(stats, /cluster\.echo\{mesh=default\}\.upstream_cx_total: [1-9]/, 'the echo chain was used');
  });

  t.test('the ingress does not terminate: the peer certificate is the destination sidecar\'s', async (t) => {
    const fe = identity(m.ca, MESH, 'frontend');
    const uri = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: ingPort, servername: 'echo{mesh=default}', cert: fe.certPem, key: fe.keyPem, ca: m.ca.certPem, checkServerIdentity: () => undefined }, () => {
        resolve(String(s.getPeerCertificate().subjectaltname));
        s.destroy();
      });
      s.on('error', reject);
    });
    t.match(uri, 'URI:spiffe://default/web', 'end-to-end TLS with the web sidecar');
  });

  t.test('unknown SNI and non-TLS bytes are closed and counted', async (t) => {
    const closed = (send: (s: net.Socket) => void) =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(ingPort, '127.0.0.1', () => send(s));
        let data = false;
        s.on('data', () => (data = true));
        s.on('error', () => undefined);
        s.on('close', () => resolve(!data));
        setTimeout(() => s.destroy(), 5000);
      });
    const unknown = await new Promise<boolean>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: ingPort, servername: 'nobody{mesh=default}', rejectUnauthorized: false });
      s.on('secureConnect', () => resolve(false));
      s.on('error', () => resolve(true));
      s.on('close', () => resolve(true));
    });
    t.ok(unknown, 'unknown SNI gets no handshake');
    t.ok(await closed((s) => s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n')), 'plain HTTP is closed without an answer');
    const st = (await admin(ing, '/stats')).body;
    t.match(st, /listener\.inbound:ingress\.no_filter_chain_match: [2-9]/, 'both counted as no filter chain match');
  });
});
