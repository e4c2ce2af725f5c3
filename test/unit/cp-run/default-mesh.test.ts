/**
 * Mesh `default` on first start: created once, a later deletion respected, and two
 * replicas starting together on one store (PostgreSQL) both come up: the one that
 * loses the create race sees the other's mesh instead of failing its start.
 */
import pino from 'pino';
import t from 'tap';
import { MemoryStore } from '../../../cp/store/memory-store';
import { defaultMeshFactory, type CpContext } from '../../../cp/run';
import type { Component } from '../../../lib/component';

function component(store: MemoryStore): Component {
  const ctx = { store, log: pino({ level: 'silent' }), config: { defaults: { skipMeshCreation: false } } } as unknown as CpContext;
  return defaultMeshFactory(ctx) as Component;
}

t.test('two replicas starting at once both start; one mesh default exists', async (t) => {
  const store = new MemoryStore();
  const results = await Promise.allSettled([component(store).start(), component(store).start()]);
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled'], JSON.stringify(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))));
  t.equal((await store.list('Mesh')).length, 1);
});

t.test('created once; deleting it later is respected on the next start', async (t) => {
  const store = new MemoryStore();
  await component(store).start();
  t.ok(await store.get('Mesh', { name: 'default' }));
  await store.delete('Mesh', { name: 'default' });
  await component(store).start();
  t.equal(await store.get('Mesh', { name: 'default' }), undefined, 'not re-created');
});
