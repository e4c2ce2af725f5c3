/**
 * DeltaReceiver over a real MemoryStore sink: a response is applied whole or not at
 * all; NACK details name every bad resource by index; removals never touch what this
 * side made itself.
 */
import t from 'tap';
import { silentLogger } from '../../../lib/logger';
import { MemoryStore } from '../../../cp/store/memory-store';
import { DeltaReceiver } from '../../../cp/kds/delta-receiver';
import { encodeResource, type KdsResource } from '../../../cp/kds/codec';
import { KdsTypeUrl, KUMA_RESOURCE_TYPE_URL } from '../../../cp/kds/kds-types';
import { zoneSinkFor } from '../../../cp/kds/store-bindings';
import type { DeltaRequest } from '../../../cp/kds/messages';
import { ZoneInsights } from '../../../cp/zones/zone-insights';

const tp = (name: string): KdsResource => ({
  type: 'TrafficPermission',
  mesh: 'default',
  name,
  labels: { 'kuma.io/origin': 'global' },
  spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }] },
});

function setup() {
  const store = new MemoryStore();
  const sent: DeltaRequest[] = [];
  const receiver = new DeltaReceiver({ types: ['TrafficPermission', 'Mesh'], sink: zoneSinkFor(store, 'zone-1'), send: (r) => sent.push(r), nodeId: 'zone-1', log: silentLogger() });
  return { store, sent, receiver };
}

t.test('one bad resource NACKs the whole response and nothing is stored', async (t) => {
  const { store, sent, receiver } = setup();
  await receiver.handleResponse({
    type_url: KdsTypeUrl.TrafficPermission,
    nonce: 'n1',
    resources: [
      encodeResource(tp('good'), 'v1'),
      { name: 'default/bad', version: 'v1', resource: { type_url: KUMA_RESOURCE_TYPE_URL, value: Buffer.from([0x0a, 0x05, 0x01]) } },
      encodeResource({ ...tp('no-origin'), labels: {} }, 'v1'),
    ],
  });
  t.equal((await store.list('TrafficPermission')).length, 0, 'the good resource was not applied either');
  t.equal(sent.length, 1);
  t.equal(sent[0].response_nonce, 'n1');
  t.equal(sent[0].error_detail?.code, 3);
  t.match(sent[0].error_detail?.message, /resources\[1\]\.resource\.value/);
  t.match(sent[0].error_detail?.message, /resources\[2\]\.labels\["kuma\.io\/origin"\]: must be "global"/);
  t.notMatch(sent[0].error_detail?.message, /resources\[0\]/, 'the good one is not blamed');
});

t.test('a good response is applied atomically and ACKed; removals spare local resources', async (t) => {
  const { store, sent, receiver } = setup();
  await store.create({ type: 'TrafficPermission', mesh: 'default', name: 'local', spec: tp('x').spec });
  await receiver.handleResponse({ type_url: KdsTypeUrl.TrafficPermission, nonce: 'n1', resources: [encodeResource(tp('a'), 'v1'), encodeResource(tp('b'), 'v1')] });
  t.same(sent.at(-1), { node: { id: 'zone-1' }, type_url: KdsTypeUrl.TrafficPermission, response_nonce: 'n1' }, 'ACK');
  t.same((await store.list('TrafficPermission')).map((r) => r.meta.name), ['a', 'b', 'local']);
  await receiver.handleResponse({ type_url: KdsTypeUrl.TrafficPermission, nonce: 'n2', resources: [], removed_resources: ['default/a', 'default/local', 'default/never-existed'] });
  t.equal(sent.at(-1)!.error_detail, undefined);
  t.same((await store.list('TrafficPermission')).map((r) => r.meta.name), ['b', 'local'], 'only what came from global is removed');
  const before = (await store.get('TrafficPermission', { mesh: 'default', name: 'b' }))!.meta.version;
  await receiver.handleResponse({ type_url: KdsTypeUrl.TrafficPermission, nonce: 'n3', resources: [encodeResource(tp('b'), 'v1')] });
  t.equal((await store.get('TrafficPermission', { mesh: 'default', name: 'b' }))!.meta.version, before, 'unchanged content is not rewritten');
});

t.test('unknown type URLs, bad removal names and duplicates are NACKed', async (t) => {
  const { store, sent, receiver } = setup();
  await receiver.handleResponse({ type_url: 'type.googleapis.com/kuma.mesh.v1alpha1.Dataplane', nonce: 'x' });
  t.match(sent.at(-1)!.error_detail?.message, /is not one this stream carries/);
  await receiver.handleResponse({ type_url: KdsTypeUrl.TrafficPermission, nonce: 'y', removed_resources: ['no-mesh'] });
  t.match(sent.at(-1)!.error_detail?.message, /removed_resources\[0\]: "no-mesh" is not a valid resource name/);
  await receiver.handleResponse({ type_url: KdsTypeUrl.TrafficPermission, nonce: 'z', resources: [encodeResource(tp('a'), 'v'), encodeResource(tp('a'), 'v')] });
  t.match(sent.at(-1)!.error_detail?.message, /resources\[1\]\.name: appears twice/);
  await receiver.handleResponse(null as any);
  t.match(sent.at(-1)!.error_detail?.message, /type_url undefined/, 'even a null message gets an answer, not a crash');
  t.equal((await store.list('TrafficPermission')).length, 0);
});

t.test('subscriptions carry what this side holds from the peer', async (t) => {
  const { store, sent, receiver } = setup();
  await receiver.handleResponse({ type_url: KdsTypeUrl.TrafficPermission, nonce: 'n1', resources: [encodeResource(tp('a'), 'v1')] });
  await store.create({ type: 'TrafficPermission', mesh: 'default', name: 'local', spec: tp('x').spec });
  sent.length = 0;
  await receiver.subscribe();
  t.same(sent.map((r) => r.type_url), [KdsTypeUrl.TrafficPermission, KdsTypeUrl.Mesh]);
  t.same(Object.keys(sent[0].initial_resource_versions!), ['default/a'], 'local resources are not claimed');
});

t.test('zone insights: streams of one session, online and offline', async (t) => {
  let now = 0;
  const ins = new ZoneInsights(() => new Date(now));
  ins.streamOpened('z', 's1');
  ins.streamOpened('z', 's1');
  t.equal(ins.subscriptions('z').length, 1, 'both streams of a connect attempt share a subscription');
  now = 1000;
  ins.streamClosed('z', 's1');
  t.ok(ins.online('z'), 'online while one stream is open');
  ins.streamClosed('z', 's1');
  t.notOk(ins.online('z'));
  t.equal(ins.subscriptions('z')[0].disconnectTime, new Date(1000).toISOString());
  for (let i = 0; i < 7; i++) ins.streamOpened('z', `s${i + 2}`);
  t.equal(ins.subscriptions('z').length, 5, 'only the last 5 subscriptions are kept');
  const o = ins.observer('z', 's8');
  o.responseSent!('Mesh', 1, 0);
  o.ack!('Mesh');
  o.responseReceived!('Dataplane', false);
  const last = ins.subscriptions('z').at(-1)!;
  t.match(last.status.stat.Mesh, { responsesSent: 1, responsesAcknowledged: 1 });
  t.match(last.status.total, { responsesSent: 1, responsesAcknowledged: 1, responsesReceived: 1, responsesReceivedRejected: 1 });
});

t.test('fuzz: random garbage responses never throw, never store, always get an answer', async (t) => {
  const { store, sent, receiver } = setup();
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  const good = encodeResource(tp('a'), 'v');
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  for (let i = 0; i < 300; i++) {
    const value = rnd() < 0.5 ? bytes(Math.floor(rnd() * 64)) : Buffer.concat([Buffer.from(good.resource.value).subarray(0, Math.floor(rnd() * good.resource.value.length)), bytes(3)]);
    const resource = {
      name: pick(['default/x', 'x', '', 'a/b/c', 'default/a']),
      version: 'v',
      resource: pick([{ type_url: KUMA_RESOURCE_TYPE_URL, value }, { type_url: 'type.googleapis.com/x', value }, null, { type_url: KUMA_RESOURCE_TYPE_URL } as any]),
    };
    await receiver.handleResponse({ type_url: KdsTypeUrl.TrafficPermission, nonce: `f${i}`, resources: [resource] });
  }
  t.equal(sent.length, 300, 'every response answered');
  t.ok(sent.every((r) => r.error_detail && r.error_detail.code === 3 && r.error_detail.message.length > 0), 'all NACKed with a reason');
  t.equal((await store.list('TrafficPermission')).length, 0, 'nothing stored');
});
