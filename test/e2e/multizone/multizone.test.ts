/**
 * Multi-zone end to end with real `kuma-cp run` processes (the compiled binary, all
 * ports 0, temp work dirs, SQLite stores): one global and two zones, plus a zone with
 * a forged token. Proves: policies applied on global reach both zones; a dataplane
 * registered in zone-1 reaches global and shows as an available service of zone-1's
 * ingress in zone-2; guards on both sides; zones keep serving while global is
 * SIGKILLed and everything converges after it restarts; disabling a zone withdraws
 * its ingress; a bad token is refused; malformed KDS messages are NACKed.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { createKdsClient, KdsMetadata } from '../../../cp/kds/grpc-service';
import { KdsTypeUrl, KUMA_RESOURCE_TYPE_URL } from '../../../cp/kds/kds-types';
import { eventually, http, startCp, startZone, tmpDir, zoneToken } from './multizone-harness';

function dataplane(name: string, service: string, port: number) {
  return {
    type: 'Dataplane',
    mesh: 'default',
    name,
    networking: { address: '127.0.0.1', inbound: [{ port, servicePort: port + 1000, tags: { 'kuma.io/service': service, version: 'v1' } }] },
  };
}

function ingress(name: string, port: number) {
  return { type: 'ZoneIngress', name, networking: { address: '127.0.0.1', advertisedAddress: '127.0.0.1', port, advertisedPort: port } };
}

const zone1Ingress = (items: any[]) => items.find((i) => i.labels?.['kuma.io/zone'] === 'zone-1' && i.labels?.['kuma.io/display-name'] === 'ingress-1');

t.test('multi-zone with real kuma-cp processes', { timeout: 90_000 }, async (t) => {
  const outer = t;
  const globalDir = tmpDir(t, 'kds-e2e-global-');
  let global = await startCp(t, 'global', globalDir, { KUMA_MODE: 'global' });
  const kdsPort = global.kdsPort!;
  const [t1, t2] = [await zoneToken(global, 'zone-1'), await zoneToken(global, 'zone-2')];
  const z1 = await startZone(t, global, 'zone-1', t1);
  const z2 = await startZone(t, global, 'zone-2', t2);

  await t.test('a policy applied on global appears in both zones', async (t) => {
    const tp = { type: 'TrafficPermission', mesh: 'default', name: 'allow-web', sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': 'web' } }] };
    const put = await http(global, 'PUT', '/meshes/default/traffic-permissions/allow-web', tp);
    t.ok(put.status === 200 || put.status === 201, `PUT on global: ${put.status} ${put.text}`);
    for (const z of [z1, z2]) {
      const got = await eventually(`policy in ${z.proc.name}`, async () => {
        const r = await http(z, 'GET', '/meshes/default/traffic-permissions/allow-web');
        return r.status === 200 ? r.body : undefined;
      });
      t.equal(got.labels?.['kuma.io/origin'], 'global');
      t.same(got.destinations, tp.destinations);
      const refused = await http(z, 'PUT', '/meshes/default/traffic-permissions/allow-web', tp);
      t.equal(refused.status, 409, `${z.proc.name} refuses writes to a global resource`);
      t.match(refused.text, /kuma\.io\/origin: global/);
    }
  });

  await t.test('an mTLS mesh made on global: both zones hold global\'s CA (same root), never their own', async (t) => {
    const mesh = { type: 'Mesh', name: 'secure', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } };
    const put = await http(global, 'PUT', '/meshes/secure', mesh);
    t.ok([200, 201].includes(put.status), put.text);
    const certName = 'secure.ca-builtin-cert-ca-1';
    const onGlobal = await eventually('CA on global', async () => {
      const r = await http(global, 'GET', `/meshes/secure/secrets/${certName}`);
      return r.status === 200 ? r.body : undefined;
    });
    t.match(Buffer.from(onGlobal.data, 'base64').toString(), /BEGIN CERTIFICATE/);
    for (const z of [z1, z2]) {
      await eventually(`mesh secure in ${z.proc.name}`, async () => (await http(z, 'GET', '/meshes/secure')).status === 200);
      const cert = await http(z, 'GET', `/meshes/secure/secrets/${certName}`);
      t.equal(cert.status, 200, `${z.proc.name} has the CA certificate before or with the mesh`);
      t.equal(cert.body.data, onGlobal.data, `${z.proc.name} holds global's CA certificate`);
      t.equal(cert.body.labels?.['kuma.io/origin'], 'global');
      const key = await http(z, 'GET', '/meshes/secure/secrets/secure.ca-builtin-key-ca-1');
      t.equal(key.status, 200, 'and its key, so it can issue identities under the same root');
      const privateKeys = (await http(z, 'GET', '/meshes/secure/secrets')).body.items.filter((i: any) => /^dataplane-token-signing-key-/.test(i.name));
      t.same(privateKeys, [], 'no dataplane-token private key reached the zone');
    }
  });

  await t.test('a dataplane registered in zone-1 reaches global and zone-2 (via zone-1\'s ingress)', async (t) => {
    t.equal((await http(z1, 'PUT', '/zoneingresses/ingress-1', ingress('ingress-1', 10001))).status, 201);
    t.equal((await http(z2, 'PUT', '/zoneingresses/ingress-2', ingress('ingress-2', 10002))).status, 201);
    t.equal((await http(z2, 'PUT', '/meshes/default/dataplanes/billing-1', dataplane('billing-1', 'billing', 20003))).status, 201);
    const put = await http(z1, 'PUT', '/meshes/default/dataplanes/web-1', dataplane('web-1', 'web', 20001));
    t.equal(put.status, 201, put.text);
    const local = await http(z1, 'GET', '/meshes/default/dataplanes/web-1');
    t.equal(local.body.networking.inbound[0].tags['kuma.io/zone'], 'zone-1', 'zone adds kuma.io/zone at registration');
    const onGlobal = await eventually('web-1 on global', async () => {
      const r = await http(global, 'GET', '/meshes/default/dataplanes');
      return r.body.items?.find((i: any) => i.labels?.['kuma.io/display-name'] === 'web-1');
    });
    t.match(onGlobal.name, /^web-1\.zone-1-[0-9a-f]{10}$/);
    t.equal(onGlobal.labels['kuma.io/zone'], 'zone-1');
    t.equal(onGlobal.labels['kuma.io/origin'], 'zone');
    const seen = await eventually('zone-1 ingress with web in zone-2', async () => {
      const r = await http(z2, 'GET', '/zoneingresses');
      const i = zone1Ingress(r.body.items ?? []);
      return i?.availableServices?.length ? i : undefined;
    });
    t.same(seen.availableServices, [{ tags: { 'kuma.io/service': 'web', 'kuma.io/zone': 'zone-1', version: 'v1' }, instances: 1, mesh: 'default' }]);
    const z1Ingresses = (await http(z1, 'GET', '/zoneingresses')).body.items.map((i: any) => i.name);
    t.notOk(z1Ingresses.some((n: string) => n.startsWith('ingress-1.')), 'zone-1 never gets its own ingress back');
    const refused = await http(global, 'PUT', '/meshes/default/dataplanes/direct', dataplane('direct', 'web', 20009));
    t.equal(refused.status, 400, 'global refuses Dataplane writes');
    t.match(refused.text, /does not accept Dataplane/);
    const insights = await http(global, 'GET', '/zones+insights');
    t.same(insights.body.items.map((i: any) => [i.name, i.online]), [['zone-1', true], ['zone-2', true]]);
    const one = await http(global, 'GET', '/zones+insights/zone-1');
    t.ok(one.body.zoneInsight.subscriptions[0].connectTime, 'subscription has a connect time');
    t.ok(one.body.zoneInsight.subscriptions[0].status.stat.Dataplane.responsesReceived >= 1);
  });

  await t.test('malformed KDS messages are NACKed and change nothing', async (t) => {
    const token = await zoneToken(global, 'zone-9');
    const client = createKdsClient(`127.0.0.1:${kdsPort}`, grpc.credentials.createSsl(fs.readFileSync(path.join(globalDir, 'dp-server-tls', 'ca.crt'))), {});
    t.teardown(() => client.close());
    const md = new grpc.Metadata();
    md.set(KdsMetadata.zone, 'zone-9');
    md.set(KdsMetadata.authorization, `Bearer ${token}`);
    const call = client.ZoneToGlobalSync(md);
    t.teardown(() => call.cancel());
    call.on('error', () => undefined);
    const requests: any[] = [];
    call.on('data', (r: any) => requests.push(r));
    await eventually('global subscribes', async () => requests.length >= 2);
    const before = (await http(global, 'GET', '/meshes/default/dataplanes')).text;
    call.write({ nonce: 'garbage', type_url: KdsTypeUrl.Dataplane, resources: [{ name: 'default/evil', version: '1', resource: { type_url: KUMA_RESOURCE_TYPE_URL, value: Buffer.from('\x0a\xff\xff\xff garbage') } }] });
    const nack = await eventually('NACK', async () => requests.find((r) => r.response_nonce === 'garbage'));
    t.equal(nack.error_detail.code, 3);
    t.match(nack.error_detail.message, /resources\[0\]\.resource\.value: is not a valid kuma\.kds\.v1\.KumaResource/);
    t.equal((await http(global, 'GET', '/meshes/default/dataplanes')).text, before, 'global state unchanged');
  });

  await t.test('zones keep serving while global is down; everything converges after restart', async (t) => {
    await global.proc.kill();
    await eventually('zone-1 notices', async () => z1.proc.log.some((l) => l.msg === 'KDS connection to global lost; retrying'));
    t.equal((await http(z1, 'GET', '/meshes/default/traffic-permissions/allow-web')).status, 200, 'zone keeps what it learned');
    const put = await http(z1, 'PUT', '/meshes/default/dataplanes/web-2', dataplane('web-2', 'web', 20002));
    t.equal(put.status, 201, 'a new local dataplane registers while global is down');
    t.equal((await http(z1, 'DELETE', '/meshes/default/dataplanes/web-1')).status, 200);
    // Registered with the outer test: the restarted global serves the subtests that follow.
    global = await startCp(outer, 'global-2', globalDir, { KUMA_MODE: 'global', KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT: String(kdsPort) });
    const names = await eventually('global converges to exactly web-2 for zone-1', async () => {
      const r = await http(global, 'GET', '/meshes/default/dataplanes');
      const n = (r.body.items ?? []).filter((i: any) => i.labels?.['kuma.io/zone'] === 'zone-1').map((i: any) => i.labels['kuma.io/display-name']);
      return n.length === 1 && n[0] === 'web-2' ? n : undefined;
    }, 20_000);
    t.same(names, ['web-2'], 'nothing lost, nothing duplicated');
    const tp2 = { type: 'TrafficPermission', mesh: 'default', name: 'after-restart', sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }] };
    t.ok([200, 201].includes((await http(global, 'PUT', '/meshes/default/traffic-permissions/after-restart', tp2)).status));
    for (const z of [z1, z2]) await eventually(`new policy in ${z.proc.name}`, async () => (await http(z, 'GET', '/meshes/default/traffic-permissions/after-restart')).status === 200);
    const insights = await eventually('both zones online again', async () => {
      const r = await http(global, 'GET', '/zones+insights');
      return r.body.items?.filter((i: any) => i.online).length === 2 ? r.body : undefined;
    });
    t.ok(insights);
  });

  await t.test('disabling a zone withdraws its ingress from the other zone', async (t) => {
    const zone = await http(global, 'GET', '/zones/zone-1');
    t.equal(zone.status, 200);
    const put = await http(global, 'PUT', '/zones/zone-1', { type: 'Zone', name: 'zone-1', enabled: false });
    t.equal(put.status, 200, put.text);
    await eventually('zone-1 ingress gone from zone-2', async () => !zone1Ingress((await http(z2, 'GET', '/zoneingresses')).body.items ?? []));
    t.ok((await http(z1, 'GET', '/zoneingresses')).body.items.some((i: any) => i.labels?.['kuma.io/zone'] === 'zone-2'), 'zone-1 still sees zone-2');
  });

  await t.test('a zone with a bad token is refused', async (t) => {
    const z3 = await startZone(t, global, 'zone-3', t1); // zone-1's token, presented by zone-3
    const line = await z3.proc.waitFor((l) => l.msg === 'KDS: global refused this zone (authentication)', 10_000, 'refusal');
    t.equal(line.code, grpc.status.UNAUTHENTICATED);
    t.match(line.reason, /zone "zone-3" is not authenticated/);
    t.equal((await http(global, 'GET', '/zones/zone-3')).status, 404, 'no Zone resource for a refused zone');
    t.equal((await http(z3, 'GET', '/meshes')).body.total, 0, 'nothing synced to it');
  });

  await t.test('a SIGKILLed zone shows offline on global within seconds', async (t) => {
    await z2.proc.kill();
    const started = Date.now();
    await eventually('zone-2 offline', async () => (await http(global, 'GET', '/zones+insights/zone-2')).body.online === false, 10_000);
    t.ok(Date.now() - started < 10_000, `offline after ${Date.now() - started} ms`);
  });

  await t.test('the killed zone restarts from its store and resyncs without rewriting anything on global', async (t) => {
    const ofZone2 = async () => [
      ...(await http(global, 'GET', '/meshes/default/dataplanes')).body.items,
      ...(await http(global, 'GET', '/zoneingresses')).body.items,
    ].filter((i: any) => i.labels?.['kuma.io/zone'] === 'zone-2');
    const before = await ofZone2();
    t.equal(before.length, 2, 'billing-1 and ingress-2 of zone-2 are on global');
    const z2b = await startZone(t, global, 'zone-2', t2, z2.workDir);
    await eventually('zone-2 online again', async () => (await http(global, 'GET', '/zones+insights/zone-2')).body.online === true);
    await eventually('zone-2 synced', async () => z2b.proc.log.some((l) => l.msg === 'KDS connected to global'));
    await new Promise((r) => setTimeout(r, 500));
    const after = await ofZone2();
    t.same(after, before, 'same resources, same modification times: content versions matched across the restart');
    t.equal((await http(z2b, 'GET', '/meshes/default/traffic-permissions/after-restart')).status, 200, 'the zone kept what it had learned');
  });
});
