/**
 * A regeneration of many proxies yields to the event loop between slices (reconciler.ts
 * SLICE_MS), so the snapshots already made go out while the rest is computed; a proxy
 * that disconnects meanwhile gets no snapshot; a change during a sliced regeneration is
 * still seen afterwards.
 */
import t from 'tap';
import { silentLogger } from '../../../lib/logger';
import { MemoryStore } from '../../../cp/store/memory-store';
import { SnapshotCache } from '../../../cp/xds/cache/snapshot-cache';
import { XdsReconciler } from '../../../cp/xds/server/reconciler';
import { TypeUrl } from '../../../proto/index';

const N = 60;
const dp = (i: number, port = 8000) => ({
  type: 'Dataplane' as const,
  mesh: 'default',
  name: `dp-${String(i).padStart(3, '0')}`,
  spec: { networking: { address: `127.0.1.${i + 1}`, inbound: [{ port, tags: { 'kuma.io/service': `svc-${i % 5}` } }], outbound: [{ port: 10000, tags: { 'kuma.io/service': `svc-${(i + 1) % 5}` } }] } },
});

t.test('sliced regeneration', async (t) => {
  const store = new MemoryStore();
  await store.create({ type: 'Mesh', name: 'default', spec: {} });
  for (let i = 0; i < N; i++) await store.create(dp(i));
  const cache = new SnapshotCache();
  // sliceMs 0: yield before every proxy, the extreme case.
  const r = new XdsReconciler({ store, cache, cp: { zone: '', vipPort: 80 }, log: silentLogger(), debounceMs: 5, sliceMs: 0 });
  await r.start();
  t.teardown(() => r.close());
  const ids = Array.from({ length: N }, (_, i) => `default.${dp(i).name}`);
  const releases = await Promise.all(ids.map((id) => r.register(id, { kind: 'dataplane', mesh: 'default', name: id.split('.')[1], dnsEnabled: false })));
  t.equal(cache.nodeIds().length, N);

  // Watch the order in which proxies get the next generation, from outside the loop.
  const before = new Map(ids.map((id) => [id, cache.getSnapshot(id)]));
  const seenMidway: number[] = [];
  let sampling = true;
  const sample = () => {
    if (!sampling) return;
    seenMidway.push(ids.filter((id) => cache.getSnapshot(id) !== before.get(id)).length);
    setImmediate(sample);
  };
  setImmediate(sample);
  // Release the last proxy once the regeneration is under way: it must get no new snapshot.
  const last = ids[N - 1];
  let released = false;
  const releaseLast = () => {
    if (ids.filter((id) => cache.getSnapshot(id) !== before.get(id)).length > 0) {
      releases[N - 1]();
      released = true;
    } else setImmediate(releaseLast);
  };
  setImmediate(releaseLast);
  await r.flush();
  sampling = false;
  t.ok(released, 'the last proxy was released mid-regeneration');
  t.ok(seenMidway.some((n) => n > 0 && n < N - 1), `other work ran while snapshots were being published (counts seen: ${[...new Set(seenMidway)].slice(0, 8).join(', ')}...)`);
  t.equal(ids.slice(0, N - 1).filter((id) => cache.getSnapshot(id) === before.get(id)).length, 0, 'every connected proxy got its new snapshot');
  t.equal(cache.getSnapshot(last), undefined, 'the released proxy got none (and its old one was cleared)');

  // A write that lands during a sliced regeneration is seen by the regeneration after it.
  const flushing = r.flush();
  await new Promise((res) => setImmediate(res));
  await store.update(dp(0, 8123));
  await flushing;
  await new Promise((res) => setTimeout(res, 50));
  await r.flush();
  const listeners = [...cache.getSnapshot(ids[0])!.of(TypeUrl.Listener).keys()];
  t.ok(listeners.includes('inbound:127.0.1.1:8123'), `the change made during the regeneration is served (${listeners.join(', ')})`);
});
