/**
 * DeltaSender against a fake peer whose `send` checks protocol invariants on every
 * response (go-control-plane's habit): nonces are new and increasing, every response
 * names a served type, resource names are unique within a response and never both
 * added and removed.
 */
import t from 'tap';
import { silentLogger } from '../../../lib/logger';
import { DeltaSender } from '../../../cp/kds/delta-sender';
import { contentVersion, type KdsResource } from '../../../cp/kds/codec';
import { KdsTypeUrl, type KdsResourceType } from '../../../cp/kds/kds-types';
import type { DeltaResponse } from '../../../cp/kds/messages';

function harness(t: any, types: KdsResourceType[], nackBackoff = { initialMs: 60_000, maxMs: 60_000 }) {
  const data = new Map<KdsResourceType, KdsResource[]>();
  const sent: DeltaResponse[] = [];
  let lastNonce = 0;
  const sender = new DeltaSender({
    types,
    source: async (type) => data.get(type) ?? [],
    log: silentLogger(),
    nackBackoff,
    send: (resp) => {
      const n = Number(resp.nonce);
      t.ok(n > lastNonce, `nonce ${resp.nonce} increases`);
      lastNonce = n;
      t.ok(Object.values(KdsTypeUrl).includes(resp.type_url), 'known type_url');
      const names = (resp.resources ?? []).map((r) => r.name);
      t.equal(new Set(names).size, names.length, 'names unique');
      t.notOk(names.some((n) => (resp.removed_resources ?? []).includes(n)), 'never added and removed at once');
      sent.push(resp);
    },
  });
  const settle = () => new Promise((r) => setTimeout(r, 20));
  return { data, sent, sender, settle };
}

const tp = (name: string, team = 'a'): KdsResource => ({ type: 'TrafficPermission', mesh: 'default', name, labels: { team }, spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }] } });

t.test('initial state, deltas, removals, and only real differences', async (t) => {
  const h = harness(t, ['TrafficPermission']);
  h.data.set('TrafficPermission', [tp('a'), tp('b')]);
  h.sender.handleRequest({ type_url: KdsTypeUrl.TrafficPermission, initial_resource_versions: {} });
  await h.settle();
  t.same(h.sent.at(-1)!.resources!.map((r) => r.name), ['default/a', 'default/b']);
  h.sender.changed(['TrafficPermission']);
  await h.settle();
  t.equal(h.sent.length, 1, 'no change, nothing sent');
  h.data.set('TrafficPermission', [tp('a', 'z'), tp('c')]);
  h.sender.changed(['TrafficPermission']);
  await h.settle();
  t.same(h.sent.at(-1)!.resources!.map((r) => r.name), ['default/a', 'default/c']);
  t.same(h.sent.at(-1)!.removed_resources, ['default/b']);
});

t.test('resubscription with initial versions sends only differences and removes what is gone', async (t) => {
  const h = harness(t, ['TrafficPermission']);
  const a = tp('a');
  h.data.set('TrafficPermission', [a, tp('b')]);
  h.sender.handleRequest({
    type_url: KdsTypeUrl.TrafficPermission,
    initial_resource_versions: { 'default/a': contentVersion('TrafficPermission', a.spec, a.labels), 'default/b': 'stale', 'default/gone': 'x' },
  });
  await h.settle();
  t.same(h.sent[0].resources!.map((r) => r.name), ['default/b']);
  t.same(h.sent[0].removed_resources, ['default/gone']);
  // An empty first response is still sent: it tells the peer it is in sync.
  const h2 = harness(t, ['Mesh']);
  h2.sender.handleRequest({ type_url: KdsTypeUrl.Mesh });
  await h2.settle();
  t.equal(h2.sent.length, 1);
  t.same(h2.sent[0].resources, []);
});

t.test('a NACK makes the next change resend what was refused; no tight retry loop', async (t) => {
  const h = harness(t, ['TrafficPermission']);
  h.data.set('TrafficPermission', [tp('a')]);
  h.sender.handleRequest({ type_url: KdsTypeUrl.TrafficPermission });
  await h.settle();
  h.sender.handleRequest({ type_url: KdsTypeUrl.TrafficPermission, response_nonce: h.sent[0].nonce, error_detail: { code: 3, message: 'no' } });
  await h.settle();
  t.equal(h.sent.length, 1, 'NACK alone triggers no resend');
  h.data.set('TrafficPermission', [tp('a'), tp('b')]);
  h.sender.changed(['TrafficPermission']);
  await h.settle();
  t.same(h.sent.at(-1)!.resources!.map((r) => r.name), ['default/a', 'default/b'], 'refused resource resent with the next change');
  h.sender.close();
});

t.test('after a NACK the sender retries on its own, with growing delays, until an ACK', async (t) => {
  const h = harness(t, ['TrafficPermission'], { initialMs: 40, maxMs: 160 });
  h.data.set('TrafficPermission', [tp('a')]);
  h.sender.handleRequest({ type_url: KdsTypeUrl.TrafficPermission });
  await h.settle();
  const times: number[] = [];
  const start = Date.now();
  for (let i = 0; i < 3; i++) {
    const last = h.sent.at(-1)!;
    h.sender.handleRequest({ type_url: KdsTypeUrl.TrafficPermission, response_nonce: last.nonce, error_detail: { code: 13, message: 'store busy' } });
    const before = h.sent.length;
    const deadline = Date.now() + 2000;
    while (h.sent.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    t.equal(h.sent.length, before + 1, `retry ${i + 1} sent`);
    t.same(h.sent.at(-1)!.resources!.map((r) => r.name), ['default/a'], 'the refused resource again');
    times.push(Date.now() - start);
  }
  t.ok(times[2] - times[1] >= times[1] - times[0] - 25, `delays grow: ${JSON.stringify(times)}`);
  h.sender.handleRequest({ type_url: KdsTypeUrl.TrafficPermission, response_nonce: h.sent.at(-1)!.nonce });
  const n = h.sent.length;
  await new Promise((r) => setTimeout(r, 250));
  t.equal(h.sent.length, n, 'no resend after the ACK');
  h.sender.close();
});

t.test('held resources are neither sent nor removed', async (t) => {
  const h = harness(t, ['Mesh']);
  const m: KdsResource = { type: 'Mesh', name: 'm', labels: {}, spec: {} };
  h.data.set('Mesh', [{ ...m, hold: true }]);
  h.sender.handleRequest({ type_url: KdsTypeUrl.Mesh, initial_resource_versions: { m: 'old' } });
  await h.settle();
  t.same(h.sent[0].resources, []);
  t.same(h.sent[0].removed_resources, [], 'the peer keeps its version');
  h.data.set('Mesh', [m]);
  h.sender.changed(['Mesh']);
  await h.settle();
  t.same(h.sent.at(-1)!.resources!.map((r) => r.name), ['m'], 'sent once released');
});

t.test('types are served in order and unknown types are ignored', async (t) => {
  const h = harness(t, ['Secret', 'Mesh']);
  h.data.set('Mesh', [{ type: 'Mesh', name: 'm', labels: {}, spec: {} }]);
  h.data.set('Secret', [{ type: 'Secret', mesh: 'm', name: 'm.ca-builtin-cert-x', labels: {}, spec: { data: 'QQ==' } }]);
  h.sender.handleRequest({ type_url: KdsTypeUrl.Mesh });
  h.sender.handleRequest({ type_url: KdsTypeUrl.Secret });
  h.sender.handleRequest({ type_url: 'type.googleapis.com/nope' });
  await h.settle();
  t.same(h.sent.map((r) => r.type_url), [KdsTypeUrl.Secret, KdsTypeUrl.Mesh], 'subscriptions arriving together are served in dependency order');
  h.data.set('Mesh', [{ type: 'Mesh', name: 'm', labels: { x: 'y' }, spec: {} }]);
  h.data.set('Secret', [{ type: 'Secret', mesh: 'm', name: 'm.ca-builtin-cert-x', labels: {}, spec: { data: 'Qg==' } }]);
  h.sender.changed(['Mesh', 'Secret']);
  await h.settle();
  t.same(h.sent.slice(2).map((r) => r.type_url), [KdsTypeUrl.Secret, KdsTypeUrl.Mesh], 'a batch goes out in dependency order');
});
