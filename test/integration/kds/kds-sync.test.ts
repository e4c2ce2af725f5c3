/**
 * KDS on real gRPC sockets (TLS, 127.0.0.1, port 0) between one in-process global
 * and two zones, each with its own store: what goes down, what goes up, renames,
 * labels, disable, refusal, NACK of malformed messages, and resync after global
 * comes back.
 */
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import t from 'tap';
import { AuthError } from '../../../lib/errors';
import type { Logger } from '../../../lib/logger';
import { MemoryStore } from '../../../cp/store/memory-store';
import type { ResourceStore } from '../../../cp/store/store';
import { KdsServer } from '../../../cp/kds/kds-server';
import { KdsZoneClient } from '../../../cp/kds/kds-client';
import { ZoneInsights } from '../../../cp/zones/zone-insights';
import { IngressUpdater } from '../../../cp/ingress/ingress-updater';
import { generateDpServerCerts } from '../../../cp/dp-server/tls-material';
import { createKdsClient, KdsMetadata } from '../../../cp/kds/grpc-service';
import { KdsTypeUrl, KUMA_RESOURCE_TYPE_URL } from '../../../cp/kds/kds-types';
import { globalName } from '../../../cp/kds/global-names';
import { normaliseForZone } from '../../../cp/kds/write-guards';
import type { ResourceInput } from '../../../api/resource';

const tls = generateDpServerCerts(['localhost', '127.0.0.1']);

function capturingLogger(): { log: Logger; lines: any[] } {
  const lines: any[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, dest), lines };
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const authenticate = async (zone: string, token: string | undefined) => {
  if (token !== `token-of-${zone}`) throw new AuthError(token ? 'token signature is invalid' : 'no zone token');
};

async function startGlobal(store: ResourceStore, port = 0) {
  const { log, lines } = capturingLogger();
  const insights = new ZoneInsights();
  const server = new KdsServer({ store, log, insights, authenticate, host: '127.0.0.1', port, tls, debounceMs: 20 });
  await server.start();
  return { server, insights, lines };
}

function dataplane(name: string, service: string, zone: string, ready = true): ResourceInput {
  const input: ResourceInput = {
    type: 'Dataplane',
    mesh: 'default',
    name,
    spec: {
      networking: {
        address: '127.0.0.1',
        inbound: [{ port: 10001, servicePort: 8080, tags: { 'kuma.io/service': service, version: 'v1' }, ...(ready ? {} : { health: { ready: false } }) }],
      },
    },
  };
  normaliseForZone(zone, input);
  return input;
}

async function startZone(t: any, zone: string, port: number, token = `token-of-${zone}`) {
  const store = new MemoryStore();
  const { log, lines } = capturingLogger();
  const client = new KdsZoneClient({
    store,
    log,
    zone,
    globalAddress: `grpcs://127.0.0.1:${port}`,
    rootCaPem: tls.caPem,
    token: () => token,
    backoff: { initialMs: 100, maxMs: 400 },
    debounceMs: 20,
  });
  // Slower than the KDS debounce, as in production (100 ms vs 50 ms).
  const updater = new IngressUpdater({ store, log, zone, debounceMs: 150 });
  await updater.start();
  await client.start();
  t.teardown(async () => {
    await client.close();
    await updater.close();
  });
  return { store, client, lines };
}

t.test('global and two zones over KDS', async (t) => {
  const gstore = new MemoryStore();
  let g = await startGlobal(gstore);
  const port = g.server.port!;
  t.teardown(() => g.server.close());

  await gstore.create({ type: 'Mesh', name: 'default', spec: { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } } });
  await gstore.create({ type: 'Secret', mesh: 'default', name: 'default.ca-builtin-cert-ca-1', spec: { data: Buffer.from('CERT').toString('base64') } });
  await gstore.create({ type: 'Secret', mesh: 'default', name: 'default.ca-builtin-key-ca-1', spec: { data: Buffer.from('KEY').toString('base64') } });
  await gstore.create({ type: 'GlobalSecret', name: 'dataplane-token-signing-key-default', spec: { data: Buffer.from('PRIVATE').toString('base64') } });
  await gstore.create({ type: 'GlobalSecret', name: 'dataplane-token-signing-public-key-default', spec: { data: Buffer.from('PUBLIC').toString('base64') } });

  const z1 = await startZone(t, 'zone-1', port);
  const z2 = await startZone(t, 'zone-2', port);

  await t.test('global resources reach both zones, labelled; private keys never do', async (t) => {
    for (const z of [z1, z2]) {
      const mesh = await eventually('mesh in zone', () => z.store.get('Mesh', { name: 'default' }));
      t.equal(mesh.meta.labels?.['kuma.io/origin'], 'global');
      t.equal(mesh.meta.labels?.['kuma.io/display-name'], 'default');
      t.same(mesh.spec.mtls.backends, [{ name: 'ca-1', type: 'builtin' }]);
      await eventually('CA key in zone', () => z.store.get('Secret', { mesh: 'default', name: 'default.ca-builtin-key-ca-1' }));
      await eventually('public key in zone', () => z.store.get('GlobalSecret', { name: 'dataplane-token-signing-public-key-default' }));
      t.equal(await z.store.get('GlobalSecret', { name: 'dataplane-token-signing-key-default' }), undefined, 'private signing key stays on global');
    }
    await gstore.create({ type: 'TrafficPermission', mesh: 'default', name: 'allow-all', spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }] } });
    for (const z of [z1, z2]) await eventually('policy in zone', () => z.store.get('TrafficPermission', { mesh: 'default', name: 'allow-all' }));
    t.ok(await gstore.get('Zone', { name: 'zone-1' }), 'Zone resource created on first connect');
    t.ok(g.insights.online('zone-1') && g.insights.online('zone-2'), 'both zones online');
  });

  await t.test('an mTLS mesh reaches zones only after its CA secrets', async (t) => {
    const order: string[] = [];
    const unwatch = z1.store.watch((ev) => {
      if (ev.resource.meta.name.startsWith('late')) order.push(`${ev.kind} ${ev.resource.meta.type} ${ev.resource.meta.name}`);
    });
    t.teardown(unwatch);
    await gstore.create({ type: 'Mesh', name: 'late', spec: { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } } });
    await new Promise((r) => setTimeout(r, 300));
    t.equal(await z1.store.get('Mesh', { name: 'late' }), undefined, 'held back while its CA is missing');
    await gstore.create({ type: 'Secret', mesh: 'late', name: 'late.ca-builtin-cert-ca-1', spec: { data: Buffer.from('C').toString('base64') } });
    await gstore.create({ type: 'Secret', mesh: 'late', name: 'late.ca-builtin-key-ca-1', spec: { data: Buffer.from('K').toString('base64') } });
    await eventually('late mesh in zone-1', () => z1.store.get('Mesh', { name: 'late' }));
    t.same(order, ['create Secret late.ca-builtin-cert-ca-1', 'create Secret late.ca-builtin-key-ca-1', 'create Mesh late'], 'secrets land before the mesh');
  });

  await t.test('a zone dataplane reaches global renamed, and zone-2 sees it as an available service of zone-1', async (t) => {
    await z1.store.create({ type: 'ZoneIngress', name: 'ingress', spec: { networking: { address: '127.0.0.1', advertisedAddress: '127.0.0.1', port: 10000, advertisedPort: 10000 } } });
    await z2.store.create({ type: 'ZoneIngress', name: 'ingress', spec: { zone: 'zone-2', networking: { address: '127.0.0.1', advertisedAddress: '127.0.0.1', port: 20000, advertisedPort: 20000 } } });
    await z1.store.create(dataplane('web-1', 'web', 'zone-1'));
    await z1.store.create(dataplane('web-2', 'web', 'zone-1'));
    await z1.store.create(dataplane('web-3', 'web', 'zone-1', false));
    await z2.store.create(dataplane('web-1', 'billing', 'zone-2'));
    const onGlobal = await eventually('dataplane on global', () => gstore.get('Dataplane', { mesh: 'default', name: globalName('web-1', 'zone-1') }));
    t.same(onGlobal.meta.labels, { 'kuma.io/origin': 'zone', 'kuma.io/zone': 'zone-1', 'kuma.io/display-name': 'web-1' });
    t.equal(onGlobal.spec.networking.inbound[0].tags['kuma.io/zone'], 'zone-1');
    await eventually('zone-2 dataplane on global', () => gstore.get('Dataplane', { mesh: 'default', name: globalName('web-1', 'zone-2') }));
    const name1 = globalName('ingress', 'zone-1');
    const foreign = await eventually('zone-1 ingress with 2 web instances in zone-2', async () => {
      const r = await z2.store.get('ZoneIngress', { name: name1 });
      return r?.spec.availableServices?.[0]?.instances === 2 ? r : undefined;
    });
    t.same(foreign.spec.availableServices, [{ tags: { 'kuma.io/service': 'web', 'kuma.io/zone': 'zone-1', version: 'v1' }, instances: 2, mesh: 'default' }]);
    t.equal(foreign.spec.zone, 'zone-1');
    t.equal(foreign.meta.labels?.['kuma.io/zone'], 'zone-1');
    // Never a zone's own ingress back to it.
    await eventually('zone-2 ingress in zone-1', () => z1.store.get('ZoneIngress', { name: globalName('ingress', 'zone-2') }));
    t.same((await z1.store.list('ZoneIngress')).map((r) => r.meta.name).sort(), [globalName('ingress', 'zone-2'), 'ingress'].sort());
    const stat = g.insights.subscriptions('zone-1').at(-1)!.status.stat;
    t.ok(stat.Mesh.responsesAcknowledged >= 1 && stat.Dataplane.responsesReceived >= 1, `insights count: ${JSON.stringify(stat)}`);
    const total = g.insights.subscriptions('zone-1').at(-1)!.status.total;
    t.equal(total.responsesSent, Object.values(stat).reduce((a, s) => a + s.responsesSent, 0), 'total sums every type');
  });

  await t.test('removals propagate both ways', async (t) => {
    await z1.store.delete('Dataplane', { mesh: 'default', name: 'web-2' });
    await eventually('dataplane gone from global', async () => !(await gstore.get('Dataplane', { mesh: 'default', name: globalName('web-2', 'zone-1') })));
    await eventually('instances down to 1 in zone-2', async () => (await z2.store.get('ZoneIngress', { name: globalName('ingress', 'zone-1') }))?.spec.availableServices?.[0]?.instances === 1);
    await gstore.delete('TrafficPermission', { mesh: 'default', name: 'allow-all' });
    for (const z of [z1, z2]) await eventually('policy gone', async () => !(await z.store.get('TrafficPermission', { mesh: 'default', name: 'allow-all' })));
    t.pass();
  });

  await t.test('an ingress re-registering without services never looks empty to other zones', async (t) => {
    const name1 = globalName('ingress', 'zone-1');
    const seen: any[] = [];
    const unwatch = z2.store.watch((ev) => {
      if (ev.resource.meta.name === name1) seen.push(ev.resource.spec.availableServices);
    });
    t.teardown(unwatch);
    const cur = (await z1.store.get('ZoneIngress', { name: 'ingress' }))!;
    // What a proxy's /bootstrap registration writes: the ingress without availableServices.
    await z1.store.update({ type: 'ZoneIngress', name: 'ingress', spec: { zone: 'zone-1', networking: { ...cur.spec.networking, advertisedPort: 10005 } } });
    await eventually('new port in zone-2', async () => (await z2.store.get('ZoneIngress', { name: name1 }))?.spec.networking.advertisedPort === 10005);
    await new Promise((r) => setTimeout(r, 300));
    t.ok(seen.length >= 1, `zone-2 saw ${seen.length} update(s)`);
    t.ok(seen.every((s) => Array.isArray(s) && s.length === 1 && s[0].instances === 1), `never empty: ${JSON.stringify(seen)}`);
  });

  await t.test('disabling a zone withdraws its ingresses from the others', async (t) => {
    const zone1 = (await gstore.get('Zone', { name: 'zone-1' }))!;
    await gstore.update({ type: 'Zone', name: 'zone-1', spec: { ...zone1.spec, enabled: false } });
    await eventually('zone-1 ingress gone from zone-2', async () => !(await z2.store.get('ZoneIngress', { name: globalName('ingress', 'zone-1') })));
    t.ok(await z1.store.get('ZoneIngress', { name: globalName('ingress', 'zone-2') }), 'zone-1 still sees zone-2');
    await gstore.update({ type: 'Zone', name: 'zone-1', spec: { enabled: true } });
    await eventually('zone-1 ingress back in zone-2', () => z2.store.get('ZoneIngress', { name: globalName('ingress', 'zone-1') }));
  });

  await t.test('a zone with a bad token is refused with UNAUTHENTICATED', async (t) => {
    const bad = await startZone(t, 'zone-3', port, 'forged');
    const line = await eventually('refusal logged', async () => bad.lines.find((l) => l.msg === 'KDS: global refused this zone (authentication)'));
    t.equal(line.code, grpc.status.UNAUTHENTICATED);
    t.match(line.reason, /zone "zone-3" is not authenticated: token signature is invalid/);
    t.equal(await gstore.get('Zone', { name: 'zone-3' }), undefined, 'no Zone resource for a refused zone');
    t.equal((await bad.store.list('Mesh')).length, 0);
  });

  await t.test('streams without a zone name or token, and a zone that does not trust global, get nowhere', async (t) => {
    const client = createKdsClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(tls.caPem)), {});
    t.teardown(() => client.close());
    const status = (md: grpc.Metadata) =>
      new Promise<grpc.StatusObject>((resolve) => {
        const call = client.GlobalToZoneSync(md);
        call.on('error', () => undefined);
        call.on('data', () => undefined);
        call.on('status', resolve);
      });
    const noZone = await status(new grpc.Metadata());
    t.equal(noZone.code, grpc.status.INVALID_ARGUMENT);
    t.match(noZone.details, /metadata "zone" must name the zone/);
    const md = new grpc.Metadata();
    md.set(KdsMetadata.zone, 'zone-7');
    const noToken = await status(md);
    t.equal(noToken.code, grpc.status.UNAUTHENTICATED);
    t.match(noToken.details, /zone "zone-7" is not authenticated: no zone token/);
    // A zone configured with another CA refuses global's certificate and keeps retrying.
    const other = generateDpServerCerts(['localhost', '127.0.0.1']);
    const store = new MemoryStore();
    const { log, lines } = capturingLogger();
    const z = new KdsZoneClient({ store, log, zone: 'zone-8', globalAddress: `grpcs://127.0.0.1:${port}`, rootCaPem: other.caPem, token: () => 'token-of-zone-8', backoff: { initialMs: 50, maxMs: 100 } });
    await z.start();
    t.teardown(() => z.close());
    const line = await eventually('TLS failure logged', async () => lines.find((l) => l.msg === 'KDS connection to global lost; retrying'));
    t.equal(line.code, grpc.status.UNAVAILABLE);
    t.equal(await gstore.get('Zone', { name: 'zone-8' }), undefined);
  });

  await t.test('malformed KDS messages are NACKed and change nothing', async (t) => {
    const client = createKdsClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(tls.caPem)), {});
    t.teardown(() => client.close());
    const md = new grpc.Metadata();
    md.set(KdsMetadata.zone, 'zone-9');
    md.set(KdsMetadata.authorization, 'Bearer token-of-zone-9');
    const call = client.ZoneToGlobalSync(md);
    t.teardown(() => call.cancel());
    call.on('error', () => undefined);
    const requests: any[] = [];
    call.on('data', (r: any) => requests.push(r));
    await eventually('subscriptions from global', async () => requests.length >= 2);
    const before = JSON.stringify(await gstore.list('Dataplane'));
    const send = (nonce: string, body: Record<string, unknown>) => call.write({ nonce, ...body });
    send('bad-any', { type_url: KdsTypeUrl.Dataplane, resources: [{ name: 'default/x', version: '1', resource: { type_url: KUMA_RESOURCE_TYPE_URL, value: Buffer.from([0x0a, 0xff, 0xff, 0xff]) } }] });
    send('bad-type', { type_url: 'type.googleapis.com/kuma.mesh.v1alpha1.Nope', resources: [] });
    send('wrong-any', { type_url: KdsTypeUrl.Dataplane, resources: [{ name: 'default/x', version: '1', resource: { type_url: 'type.googleapis.com/google.protobuf.Empty', value: Buffer.alloc(0) } }] });
    const nacks = await eventually('three NACKs', async () => {
      const n = requests.filter((r) => r.response_nonce);
      return n.length >= 3 ? n : undefined;
    });
    const byNonce = Object.fromEntries(nacks.map((n: any) => [n.response_nonce, n]));
    t.match(byNonce['bad-any'].error_detail, { code: 3, message: /resources\[0\]\.resource\.value: is not a valid kuma\.kds\.v1\.KumaResource/ });
    t.match(byNonce['bad-type'].error_detail, { code: 3, message: /type_url "type\.googleapis\.com\/kuma\.mesh\.v1alpha1\.Nope" is not one this stream carries/ });
    t.match(byNonce['wrong-any'].error_detail, { code: 3, message: /resources\[0\]\.resource\.type_url/ });
    t.equal(JSON.stringify(await gstore.list('Dataplane')), before, 'global store unchanged');
    t.ok(g.insights.subscriptions('zone-9').at(-1)!.status.stat.Dataplane.responsesReceivedRejected >= 2);
  });

  await t.test('a zone that goes away shows offline within seconds', async (t) => {
    const z4 = await startZone(t, 'zone-4', port);
    await eventually('zone-4 online', async () => g.insights.online('zone-4'));
    await z4.client.close();
    const started = Date.now();
    await eventually('zone-4 offline', async () => !g.insights.online('zone-4'), 5000);
    t.ok(Date.now() - started < 5000, `offline after ${Date.now() - started} ms`);
    t.ok(g.insights.subscriptions('zone-4').at(-1)!.disconnectTime, 'disconnect time recorded');
  });

  await t.test('zones keep working while global is down and converge after it returns', async (t) => {
    await g.server.close();
    await eventually('zone-1 notices', async () => !z1.client.connected);
    // Zone autonomy: local writes continue; what came from global stays.
    await z1.store.create(dataplane('web-4', 'web', 'zone-1'));
    await z1.store.delete('Dataplane', { mesh: 'default', name: 'web-1' });
    t.ok(await z1.store.get('Mesh', { name: 'default' }), 'zone keeps what it learned');
    // Meanwhile global changes too.
    await gstore.create({ type: 'TrafficRoute', mesh: 'default', name: 'route-1', spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }], conf: { destination: { 'kuma.io/service': 'web' } } } });
    await gstore.delete('Secret', { mesh: 'default', name: 'default.ca-builtin-key-ca-1' });
    g = await startGlobal(gstore, port);
    await eventually('web-4 on global', () => gstore.get('Dataplane', { mesh: 'default', name: globalName('web-4', 'zone-1') }), 10_000);
    await eventually('web-1 removed from global', async () => !(await gstore.get('Dataplane', { mesh: 'default', name: globalName('web-1', 'zone-1') })));
    for (const z of [z1, z2]) {
      await eventually('route in zone', () => z.store.get('TrafficRoute', { mesh: 'default', name: 'route-1' })).catch((e) => { console.error(JSON.stringify(z.lines.filter((l) => l.level >= 40).slice(-5))); throw e; });
      await eventually('deleted secret removed from zone', async () => !(await z.store.get('Secret', { mesh: 'default', name: 'default.ca-builtin-key-ca-1' })));
      t.ok(await z.store.get('Mesh', { name: 'default' }), 'a held mesh (CA incomplete) is kept, not removed');
    }
    const zone1Dps = (await gstore.list('Dataplane')).filter((r) => r.meta.labels?.['kuma.io/zone'] === 'zone-1').map((r) => r.meta.labels?.['kuma.io/display-name']);
    t.same(zone1Dps.sort(), ['web-3', 'web-4'], 'exactly the zone\'s dataplanes: nothing lost, nothing duplicated');
    await eventually('zone-2 sees web-4 counted', async () => (await z2.store.get('ZoneIngress', { name: globalName('ingress', 'zone-1') }))?.spec.availableServices?.[0]?.instances === 1);
  });
});
