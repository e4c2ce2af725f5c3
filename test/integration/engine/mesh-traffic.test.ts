/**
 * Two embedded engines (a client sidecar `frontend`, a server sidecar `web`) carry HTTP
 * and raw TCP over mTLS between real apps, configured only by Envoy v3 resources over
 * ADS: weighted split within 3 sigma, header/method routes, RBAC refusal of a mesh
 * identity that is not permitted, and openssl s_client against an inbound listener.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import http from 'node:http';
import t from 'tap';
import { T } from './harness/ads-server';
import { createCa, identity } from './harness/pki';
import * as R from './harness/resources';
import { echoApp, httpApp, request, tcpExchange, until } from './harness/apps';
import { admin, startAdsServer, startEngine } from './harness/engine';

const MESH = 'default';

t.test('mesh traffic between two embedded engines', async (t) => {
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

  // Server sidecar `web`: three inbound listeners (HTTP v1, HTTP v2, TCP echo).
  const webNode = `${MESH}.web`;
  const allowed = [`spiffe://${MESH}/frontend`];
  const web = await startEngine(t, { mesh: MESH, name: 'web', adsPort: ads.port, adsCaPem: cpCa.certPem });
  ads.set(webNode, T.Secret, R.secrets(identity(ca, MESH, 'web'), ca.certPem));
  ads.set(webNode, T.Cluster, [R.localCluster(v1.port), R.localCluster(v2.port), R.localCluster(echo.port)]);
  ads.set(webNode, T.Listener, [
    R.inboundListener('inbound:web-v1', 0, MESH, allowed, R.hcm('web_v1', { cluster: `localhost:${v1.port}` })),
    R.inboundListener('inbound:web-v2', 0, MESH, allowed, R.hcm('web_v2', { cluster: `localhost:${v2.port}` })),
    R.inboundListener('inbound:echo', 0, MESH, allowed, R.tcpProxy('echo', `localhost:${echo.port}`)),
  ]);
  await until(() => web.isReady(), 'web engine ready');
  const p1 = web.listenerPort('inbound:web-v1')!;
  const p2 = web.listenerPort('inbound:web-v2')!;
  const pe = web.listenerPort('inbound:echo')!;
  t.ok(p1 && p2 && pe, 'inbound listeners bound');
  t.equal((await admin(web, '/ready')).status, 200, 'web /ready is 200 once configured');

  // Client sidecar `frontend`: outbound HTTP (RDS, weighted) and TCP listeners.
  const feNode = `${MESH}.frontend`;
  const fe = await startEngine(t, { mesh: MESH, name: 'frontend', adsPort: ads.port, adsCaPem: cpCa.certPem });
  t.equal((await admin(fe, '/ready')).status, 503, 'frontend /ready is 503 before config');
  ads.set(feNode, T.Secret, R.secrets(identity(ca, MESH, 'frontend'), ca.certPem));
  ads.set(feNode, T.Cluster, [
    R.meshCluster('web-v1', MESH, 'web', 'web{mesh=default,version=v1}'),
    R.meshCluster('web-v2', MESH, 'web', 'web{mesh=default,version=v2}'),
    R.meshCluster('echo', MESH, 'web', 'echo{mesh=default}'),
  ]);
  ads.set(feNode, T.ClusterLoadAssignment, [R.assignment('web-v1', [{ port: p1 }]), R.assignment('web-v2', [{ port: p2 }]), R.assignment('echo', [{ port: pe }])]);
  ads.set(feNode, T.RouteConfiguration, [
    R.routeConfig('outbound:web', [
      { match: { prefix: '/api', headers: [{ name: ':method', string_match: { exact: 'POST' } }, { name: 'x-canary', string_match: { exact: '1' } }] }, cluster: 'web-v2' },
      { match: { path: '/exact-v1' }, cluster: 'web-v1' },
      { match: { prefix: '/' }, weighted: [{ name: 'web-v1', weight: 80 }, { name: 'web-v2', weight: 20 }] },
    ]),
  ]);
  ads.set(feNode, T.Listener, [R.outboundListener('outbound:web', 0, R.hcm('outbound_web', { rds: 'outbound:web' })), R.outboundListener('outbound:echo', 0, R.tcpProxy('outbound_echo', 'echo'))]);
  await until(() => fe.isReady(), 'frontend engine ready');
  const outWeb = fe.listenerPort('outbound:web')!;
  const outEcho = fe.listenerPort('outbound:echo')!;

  t.test('token reaches the CP as authorization metadata', async (t) => {
    t.ok(ads.requests.some((r) => r.node === feNode && r.authorization === 'token-of-frontend'));
    t.same(ads.nacks(), [], 'no NACKs for the CP-shaped resources');
  });

  t.test('HTTP over mTLS, keep-alive, routes by header/method/exact path', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    const r = await request(outWeb, { path: '/exact-v1', agent });
    t.equal(r.status, 200);
    t.equal(JSON.parse(r.body).app, 'web-v1');
    for (let i = 0; i < 20; i++) {
      const x = await request(outWeb, { path: '/api/orders', method: 'POST', headers: { 'x-canary': '1' }, body: `n=${i}`, agent });
      t.equal(JSON.parse(x.body).app, 'web-v2', 'canary POST goes to v2');
      t.equal(JSON.parse(x.body).body, `n=${i}`, 'request body forwarded');
    }
    const s = (await admin(web, '/stats')).body;
    t.match(s, /listener\.inbound:web-v2\.downstream_cx_total: 1\n/, 'one keep-alive connection carried the 20 canary requests to v2');
  });

  t.test('80/20 weighted split over 1000 requests within 3 sigma', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    t.teardown(() => agent.destroy());
    const counts: Record<string, number> = {};
    const N = 1000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < N) {
          next++;
          const r = await request(outWeb, { path: '/split', agent });
          const app = JSON.parse(r.body).app;
          counts[app] = (counts[app] ?? 0) + 1;
        }
      }),
    );
    const sigma = Math.sqrt(N * 0.8 * 0.2);
    t.equal((counts['web-v1'] ?? 0) + (counts['web-v2'] ?? 0), N, 'every request answered');
    t.ok(Math.abs((counts['web-v1'] ?? 0) - 800) <= 3 * sigma, `v1 got ${counts['web-v1']} of ${N} (expect 800 ± ${Math.round(3 * sigma)})`);
  });

  t.test('raw TCP over mTLS', async (t) => {
    const got = await tcpExchange(outEcho, 'hello-tcp', 'echo:hello-tcp'.length);
    t.equal(got, 'echo:hello-tcp');
    const big = 'x'.repeat(1 << 20);
    const back = await tcpExchange(outEcho, big, 5 + big.length);
    t.equal(back.length, 5 + big.length, '1 MiB echoed intact');
  });

  t.test('a mesh identity that is not permitted is refused and counted', async (t) => {
    const intruder = identity(ca, MESH, 'intruder');
    const before = (await admin(web, '/stats')).body.match(/listener\.inbound:web-v1\.rbac_denied: (\d+)/)![1];
    const outcome = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: p1, cert: intruder.certPem, key: intruder.keyPem, ca: ca.certPem, checkServerIdentity: () => undefined }, () => {
        s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
      });
      let data = '';
      s.on('data', (d) => (data += d));
      s.on('error', (e) => resolve(`error ${e.message}`));
      s.on('close', () => resolve(data ? `data ${data}` : 'closed'));
    });
    t.notMatch(outcome, /^data/, `no response for the intruder (${outcome})`);
    const after = (await admin(web, '/stats')).body.match(/listener\.inbound:web-v1\.rbac_denied: (\d+)/)![1];
    t.equal(Number(after), Number(before) + 1, 'rbac_denied counted');
    // The permitted identity on the same listener works.
    const fePair = identity(ca, MESH, 'frontend');
    const ok = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: pe, cert: fePair.certPem, key: fePair.keyPem, ca: ca.certPem, checkServerIdentity: () => undefined }, () => s.write('ping'));
      let data = '';
      s.on('data', (d) => {
        data += d;
        if (data.length >= 'echo:ping'.length) s.end();
      });
      s.on('error', reject);
      s.on('close', () => resolve(data));
    });
    t.equal(ok, 'echo:ping', 'permitted caller passes RBAC');
  });

  t.test('openssl s_client: handshake with a mesh cert completes, without a cert is refused', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sclient-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const id = identity(ca, MESH, 'frontend');
    fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
    fs.writeFileSync(path.join(dir, 'cert.pem'), id.certPem);
    fs.writeFileSync(path.join(dir, 'key.pem'), id.keyPem);
    // s_client keeps reading while stdin is open; we stop it once the echo came back or it exits.
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${pe}`, '-CAfile', path.join(dir, 'ca.pem'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
        const onData = (d: Buffer) => {
          out += d.toString();
          if (out.includes('echo:ping')) p.kill('SIGTERM');
        };
        p.stdout.on('data', onData);
        p.stderr.on('data', onData);
        p.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
        p.stdin.write('ping');
      });
    const withCert = await run(['-cert', path.join(dir, 'cert.pem'), '-key', path.join(dir, 'key.pem')]);
    t.match(withCert.out, /Verify return code: 0 \(ok\)/, 'server chain verifies against the mesh CA');
    t.match(withCert.out, /echo:ping/, 'app data flows after the handshake');
    const noCert = await run([]);
    t.notMatch(noCert.out, /echo:ping/, 'no data without a client certificate');
    t.match(noCert.out, /alert|handshake failure|certificate required/i, 'the server refuses the handshake');
  });

  t.test('clients kept the xDS protocol (nonces, versions, node)', async (t) => {
    t.same(ads.violations, []);
  });

  t.test('admin: stats, prometheus, config_dump, clusters', async (t) => {
    const prom = (await admin(fe, '/stats/prometheus')).body;
    t.match(prom, /envoy_cluster_upstream_rq_total\{envoy_cluster_name="web-v1"\} \d+/);
    t.match(prom, /envoy_control_plane_config_updates \d+/);
    const dump = JSON.parse((await admin(fe, '/config_dump')).body);
    t.same(dump.listeners.map((l: any) => l.name), ['outbound:echo', 'outbound:web']);
    t.equal(dump.secrets.find((s: any) => s.name === 'identity_cert').private_key, '[redacted]', 'keys are not dumped');
    const clusters = JSON.parse((await admin(fe, '/clusters')).body);
    t.same(clusters.find((c: any) => c.name === 'web-v1').endpoints.map((e: any) => [e.address, e.health]), [[`127.0.0.1:${p1}`, 'healthy']]);
  });
});
