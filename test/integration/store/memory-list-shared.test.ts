/**
 * MemoryStore.listShared, the xDS reconciler's uncopied read path: it lists exactly what
 * list() lists, in the same order; it hands out the same frozen objects until the type
 * is written, so a reader that tried to change them throws instead of corrupting the
 * store; every write (create, update, delete, transaction) is seen by the next call;
 * list() and get() still return private, mutable copies.
 */
import t from 'tap';
import { MemoryStore } from '../../../cp/store/memory-store';

const dp = (name: string, port: number) => ({ type: 'Dataplane' as const, mesh: 'default', name, spec: { networking: { address: '10.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': name } }] } } });

t.test('listShared: same contents as list, frozen, invalidated by writes', async (t) => {
  const s = new MemoryStore();
  await s.create({ type: 'Mesh', name: 'default', spec: {} });
  for (const n of ['c', 'a', 'b']) await s.create(dp(n, 8000));
  const shared = await s.listShared('Dataplane');
  t.same(shared, await s.list('Dataplane'), 'same resources, same order (by mesh, then name)');
  t.same(shared.map((r) => r.meta.name), ['a', 'b', 'c']);
  t.equal(await s.listShared('Dataplane'), shared, 'the same array while nothing is written');
  t.ok(Object.isFrozen(shared) && Object.isFrozen(shared[0]) && Object.isFrozen(shared[0].spec.networking.inbound[0].tags), 'deep-frozen');
  t.throws(() => {
    shared[0].spec.networking.inbound[0].port = 1;
  }, TypeError, 'a reader cannot change the store through it');
  t.equal((await s.get('Dataplane', { mesh: 'default', name: 'a' }))!.spec.networking.inbound[0].port, 8000);

  const copy = (await s.list('Dataplane'))[0];
  copy.spec.networking.inbound[0].port = 2;
  t.equal((await s.listShared('Dataplane'))[0].spec.networking.inbound[0].port, 8000, 'list() copies are private');

  await s.update(dp('a', 9000));
  const afterUpdate = await s.listShared('Dataplane');
  t.not(afterUpdate, shared, 'a write to the type drops the cached list');
  t.equal(afterUpdate[0].spec.networking.inbound[0].port, 9000, 'the update is seen');
  t.equal(shared[0].spec.networking.inbound[0].port, 8000, 'an earlier answer is not changed under its reader');

  await s.create({ type: 'TrafficRoute', mesh: 'default', name: 'r', spec: { sources: [], destinations: [] } });
  t.equal(await s.listShared('Dataplane'), afterUpdate, 'a write to another type keeps it');

  await s.delete('Dataplane', { mesh: 'default', name: 'b' });
  t.same((await s.listShared('Dataplane')).map((r) => r.meta.name), ['a', 'c'], 'a delete is seen');
  await s.transaction([
    { op: 'create', input: dp('d', 1) },
    { op: 'delete', type: 'Dataplane', key: { mesh: 'default', name: 'c' } },
  ]);
  t.same((await s.listShared('Dataplane')).map((r) => r.meta.name), ['a', 'd'], 'a transaction is seen');
  await t.rejects(s.transaction([{ op: 'create', input: dp('e', 1) }, { op: 'create', input: dp('a', 1) }]));
  t.same((await s.listShared('Dataplane')).map((r) => r.meta.name), ['a', 'd'], 'a failed transaction changes nothing');
  t.same(await s.listShared('ZoneIngress'), [], 'an empty type');
});
