/**
 * The reconciler: concurrent connects are batched into few regenerations; a change in
 * one mesh regenerates only that mesh's proxies (and ingresses); a deleted dataplane
 * keeps its last snapshot; an inconsistent or unencodable result is refused.
 */
import t from 'tap';
import { silentLogger } from '../../../lib/logger';
import { MemoryStore } from '../../../cp/store/memory-store';
import { SnapshotCache } from '../../../cp/xds/cache/snapshot-cache';
import { XdsReconciler } from '../../../cp/xds/server/reconciler';
import { TypeUrl } from '../../../proto/index';
import type { ResourceSet } from '../../../cp/xds/generators/types';

const dp = (mesh: string, i: number) => ({
  type: 'Dataplane' as const,
  mesh,
  name: `dp-${i}`,
  spec: { networking: { address: `127.0.${mesh === 'a' ? 1 : 2}.${i + 1}`, inbound: [{ port: 8000, tags: { 'kuma.io/service': `svc-${i % 10}` } }], outbound: [{ port: 10000, tags: { 'kuma.io/service': `svc-${(i + 1) % 10}` } }] } },
});

t.test('batching, scoping, refusal', async (t) => {
  const store = new MemoryStore();
  for (const m of ['a', 'b']) {
    await store.create({ type: 'Mesh', name: m, spec: {} });
    for (let i = 0; i < 100; i++) await store.create(dp(m, i));
  }
  const cache = new SnapshotCache();
  let breakIt: 'no' | 'encode' | 'inconsistent' = 'no';
  const transform = (_id: string, set: ResourceSet) => {
    if (breakIt === 'encode') set.get(TypeUrl.Cluster)!.set('bad', { name: 'bad', not_a_field: 1 });
    if (breakIt === 'inconsistent') set.get(TypeUrl.ClusterLoadAssignment)!.clear();
    return set;
  };
  const r = new XdsReconciler({ store, cache, cp: { zone: '', vipPort: 80 }, log: silentLogger(), debounceMs: 10, transform });
  await r.start();
  t.teardown(() => r.close());
  const ids = ['a', 'b'].flatMap((m) => Array.from({ length: 100 }, (_, i) => `${m}.dp-${i}`));
  await Promise.all(ids.map((id) => r.register(id, { kind: 'dataplane', mesh: id.split('.')[0], name: id.split('.')[1], dnsEnabled: false })));
  t.ok(r.generations <= 3, `200 concurrent connects took ${r.generations} regenerations`);
  t.same(cache.nodeIds().length, 200, 'every proxy has a snapshot');

  const before = new Map(ids.map((id) => [id, cache.getSnapshot(id)]));
  await store.create(dp('a', 100));
  await new Promise((res) => setTimeout(res, 100));
  await r.flush().catch(() => undefined);
  const changedB = ids.filter((id) => id.startsWith('b.') && cache.getSnapshot(id) !== before.get(id));
  t.equal(changedB.length, 200 / 2, 'flush regenerates everyone (sanity)');

  // Scoping without flush: a change in mesh a only.
  const mid = new Map(ids.map((id) => [id, cache.getSnapshot(id)]));
  await store.create(dp('a', 101));
  await new Promise((res) => setTimeout(res, 200));
  t.equal(ids.filter((id) => id.startsWith('b.') && cache.getSnapshot(id) !== mid.get(id)).length, 0, 'mesh b untouched by a change in mesh a');
  t.equal(ids.filter((id) => id.startsWith('a.') && cache.getSnapshot(id) !== mid.get(id)).length, 100, 'every proxy of mesh a regenerated');

  for (const mode of ['encode', 'inconsistent'] as const) {
    breakIt = mode;
    const last = cache.getSnapshot('a.dp-0');
    await store.create(dp('a', mode === 'encode' ? 102 : 103));
    await new Promise((res) => setTimeout(res, 200));
    t.equal(cache.getSnapshot('a.dp-0'), last, `${mode}: the last good snapshot stays`);
  }
  breakIt = 'no';
  await store.delete('Dataplane', { mesh: 'a', name: 'dp-1' });
  const kept = cache.getSnapshot('a.dp-1');
  await new Promise((res) => setTimeout(res, 200));
  t.equal(cache.getSnapshot('a.dp-1'), kept, 'a deleted dataplane keeps its last snapshot');
  t.not(cache.getSnapshot('a.dp-0'), undefined);
});
