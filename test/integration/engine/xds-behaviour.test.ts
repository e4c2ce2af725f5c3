/**
 * How the engine lives with its control plane: NACK with a precise error_detail while
 * the last good config keeps carrying traffic; SDS rotation under a steady request
 * loop; listener removal drains without touching unchanged listeners; the CP going
 * away; endpoints that refuse connections are ejected and retried elsewhere;
 * priorities fail over.
 */
import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
import t from 'tap';
import { T } from './harness/ads-server';
import { identity } from './harness/pki';
import * as R from './harness/resources';
import { request, tcpExchange, until } from './harness/apps';
import { admin } from './harness/engine';
import { FE, MESH, WEB, startMesh } from './harness/mesh';
import { ExtensionTypeUrl } from '../../../proto/index';

async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function statOf(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

t.test('xDS behaviour', async (t) => {
  const m = await startMesh(t, { feDrainMs: 1500 });
  const { ads, fe, web } = m;

  t.test('an unsupported field draws a NACK naming it; the old config keeps serving', async (t) => {
    const before = ads.nacks().length;
    const bad = R.outboundListener('outbound:bad', 0, R.tcpProxy('bad', 'echo'));
    bad.per_connection_buffer_limit_bytes = 1024;
    const badFilter = R.outboundListener('outbound:bad-filter', 0, { name: 'envoy.filters.network.sni_cluster', typed_config: { '@type': ExtensionTypeUrl.SniCluster } });
    ads.set(FE, T.Listener, [...m.feListeners(), bad, badFilter]);
    const nack = (await until(() => ads.nacks().slice(before).find((r) => r.node === FE && r.typeUrl === T.Listener), 'NACK'))!;
    t.match(nack.error, 'listener "outbound:bad": per_connection_buffer_limit_bytes: field not supported by the embedded engine');
    t.match(nack.error, `listener "outbound:bad-filter": filter_chains[0].filters[0]: unsupported filter type "${ExtensionTypeUrl.SniCluster}"`);
    t.equal(fe.listenerPort('outbound:bad'), undefined, 'nothing of the rejected update was applied');
    const r = await request(m.ports.outWeb, { path: '/still' });
    t.equal(JSON.parse(r.body).app, 'web-v1', 'old config carries traffic');
    t.ok(statOf((await admin(fe, '/stats')).body, 'control_plane.update_rejected') >= 1, 'NACK counted');
    const lastAck = ads.requests.filter((x) => x.node === FE && x.typeUrl === T.Listener && !x.error).pop()!;
    t.equal(nack.version, lastAck.version, 'the NACK carries the last accepted version');
    // A good update is ACKed again.
    ads.set(FE, T.Listener, m.feListeners());
    await until(() => {
      const last = ads.requests.filter((x) => x.node === FE && x.typeUrl === T.Listener).pop();
      return last && !last.error && last.nonce !== nack.nonce;
    }, 'ACK after fix');
  });

  t.test('SDS rotation under a steady request loop drops nothing', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    t.teardown(() => agent.destroy());
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const loop = async (useAgent: boolean) => {
      while (!stop) {
        try {
          const r = await request(m.ports.outWeb, { path: '/rot', agent: useAgent ? agent : undefined });
          if (r.status === 200) ok++;
          else failures.push(`status ${r.status}: ${r.body}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const loops = [loop(true), loop(true), loop(false), loop(false)];
    await new Promise((r) => setTimeout(r, 400));
    const newWeb = identity(m.ca, MESH, 'web');
    const newFe = identity(m.ca, MESH, 'frontend');
    ads.set(WEB, T.Secret, R.secrets(newWeb, m.ca.certPem));
    ads.set(FE, T.Secret, R.secrets(newFe, m.ca.certPem));
    // New connections present the new identity (once the SDS update has been applied).
    const serialNow = () =>
      new Promise<string>((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port: m.ports.echo, cert: newFe.certPem, key: newFe.keyPem, ca: m.ca.certPem, checkServerIdentity: () => undefined }, () => {
          resolve(s.getPeerCertificate().serialNumber);
          s.destroy();
        });
        s.on('error', (e) => resolve(`error: ${e.message}`));
      });
    let serial = '';
    await until(async () => (serial = await serialNow()).toLowerCase() === newWeb.serial.toLowerCase(), 'rotated certificate served', 10_000).catch(() => undefined);
    // Keep the loop running a little past the moment the new certificate is served.
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(loops);
    t.same(failures, [], 'no request failed across the rotation');
    t.ok(ok > 50, `${ok} requests succeeded`);
    t.equal(serial.toLowerCase(), newWeb.serial.toLowerCase(), 'the inbound listener serves the rotated certificate');
  });

  t.test('a removed listener drains; an unchanged one keeps its connections', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    await request(m.ports.outWeb, { agent });
    const cxBefore = statOf((await admin(fe, '/stats')).body, 'listener.outbound:web.downstream_cx_total');
    // An established TCP connection through the listener about to go.
    const s = net.connect(m.ports.outEcho, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d));
    s.write('one');
    await until(() => got === 'echo:one', 'first echo');
    ads.set(FE, T.Listener, [m.feListeners()[0]]);
    await until(async () => {
      const dump = JSON.parse((await admin(fe, '/listeners')).body);
      return dump.length === 1;
    }, 'listener removed');
    const refused = await new Promise<boolean>((resolve) => {
      const c = net.connect(m.ports.outEcho, '127.0.0.1');
      c.on('error', () => resolve(true));
      c.on('connect', () => {
        c.destroy();
        resolve(false);
      });
    });
    t.ok(refused, 'the removed listener no longer accepts');
    s.write('two');
    await until(() => got === 'echo:onetwo', 'established connection still carries data while draining');
    t.pass('draining connection still works');
    await until(() => s.destroyed || s.readableEnded, 'drained connection closed after drain time', 5000);
    await request(m.ports.outWeb, { agent });
    t.equal(statOf((await admin(fe, '/stats')).body, 'listener.outbound:web.downstream_cx_total'), cxBefore, 'the unchanged listener kept the keep-alive connection');
    s.destroy();
    ads.set(FE, T.Listener, m.feListeners());
    m.ports.outEcho = (await until(() => fe.listenerPort('outbound:echo'), 'echo listener back'))!;
  });

  t.test('the CP going away leaves traffic flowing; the stream comes back', async (t) => {
    const restarts = () => admin(fe, '/stats').then((r) => statOf(r.body, 'control_plane.stream_restarts'));
    const before = await restarts();
    ads.kickAll();
    const r = await request(m.ports.outWeb, { path: '/cp-away' });
    t.equal(r.status, 200, 'traffic flows while the stream is down');
    await until(async () => (await restarts()) > before, 'stream restarted');
    await until(async () => statOf((await admin(fe, '/stats')).body, 'control_plane.connected_state') === 1, 'reconnected');
    t.pass('reconnected to the CP');
  });

  t.test('HTTP balances per request, even over one keep-alive connection', async (t) => {
    ads.set(FE, T.ClusterLoadAssignment, [R.assignment('web-v1', [{ port: m.ports.v1 }, { port: m.ports.v2, weight: 3 }]), R.assignment('web-v2', [{ port: m.ports.v2 }]), R.assignment('echo', [{ port: m.ports.echo }])]);
    await until(async () => JSON.parse((await admin(fe, '/clusters')).body).find((c: any) => c.name === 'web-v1').endpoints.length === 2, 'two endpoints');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    const seen: string[] = [];
    for (let i = 0; i < 40; i++) seen.push(JSON.parse((await request(m.ports.outWeb, { path: `/lb-${i}`, agent })).body).app);
    const v2 = seen.filter((a) => a === 'web-v2').length;
    t.equal(v2, 30, `weights 1:3 give exactly 30 of 40 to the weight-3 endpoint (smooth WRR), got ${v2}`);
  });

  t.test('refused endpoints are ejected and the connect is retried elsewhere', async (t) => {
    const dead = await deadPort();
    ads.set(FE, T.ClusterLoadAssignment, [R.assignment('web-v1', [{ port: dead }, { port: m.ports.v1 }]), R.assignment('web-v2', [{ port: m.ports.v2 }]), R.assignment('echo', [{ port: m.ports.echo }])]);
    await until(async () => JSON.parse((await admin(fe, '/clusters')).body).find((c: any) => c.name === 'web-v1').endpoints.length === 2, 'two endpoints');
    for (let i = 0; i < 10; i++) {
      const r = await request(m.ports.outWeb, { path: `/retry-${i}` });
      t.equal(r.status, 200, `request ${i} succeeded despite a dead endpoint`);
    }
    const eps = JSON.parse((await admin(fe, '/clusters')).body).find((c: any) => c.name === 'web-v1').endpoints;
    t.equal(eps.find((e: any) => e.address === `127.0.0.1:${dead}`).health, 'ejected');
    t.equal(eps.find((e: any) => e.address === `127.0.0.1:${m.ports.v1}`).health, 'healthy');
  });

  t.test('the lowest priority with a healthy endpoint takes the traffic', async (t) => {
    ads.set(FE, T.ClusterLoadAssignment, [R.assignment('web-v1', [{ port: m.ports.v1 }, { port: m.ports.v2, priority: 1 }]), R.assignment('web-v2', [{ port: m.ports.v2 }]), R.assignment('echo', [{ port: m.ports.echo }])]);
    await until(async () => JSON.parse((await admin(fe, '/clusters')).body).find((c: any) => c.name === 'web-v1').endpoints.length === 2, 'two priorities');
    for (let i = 0; i < 5; i++) t.equal(JSON.parse((await request(m.ports.outWeb)).body).app, 'web-v1', 'priority 0 serves');
    const dead = await deadPort();
    ads.set(FE, T.ClusterLoadAssignment, [R.assignment('web-v1', [{ port: dead }, { port: m.ports.v2, priority: 1 }]), R.assignment('web-v2', [{ port: m.ports.v2 }]), R.assignment('echo', [{ port: m.ports.echo }])]);
    await until(async () => JSON.parse((await admin(fe, '/clusters')).body).find((c: any) => c.name === 'web-v1').endpoints.some((e: any) => e.address.endsWith(`:${dead}`)), 'dead priority 0');
    const apps = new Set<string>();
    for (let i = 0; i < 5; i++) apps.add(JSON.parse((await request(m.ports.outWeb)).body).app);
    t.same([...apps], ['web-v2'], 'priority 1 takes over when priority 0 fails');
  });

  t.test('clients kept the xDS protocol (nonces, versions, node)', async (t) => {
    t.same(ads.violations, []);
  });

  t.test('TCP still works at the end', async (t) => {
    t.equal(await tcpExchange(m.ports.outEcho, 'end', 'echo:end'.length), 'echo:end');
    t.ok(web.isReady() && fe.isReady());
  });
});
