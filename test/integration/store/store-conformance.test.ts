/**
 * One behavioural suite run against every ResourceStore engine, so that they cannot
 * drift apart: CRUD, ordering, optimistic concurrency, atomic transactions, watch.
 * PostgreSQL runs on a throw-away server this file starts (postgres-server.ts), one
 * fresh database per test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { ResourceInput } from '../../../api/resource';
import { MemoryStore } from '../../../cp/store/memory-store';
import { SqliteStore } from '../../../cp/store/sqlite-store';
import { PostgresStore } from '../../../cp/store/postgres-store';
import { startPostgres, type PgServer } from './postgres-server';
import type { ResourceStore, StoreEvent } from '../../../cp/store/store';

// The part of a tap Test the helpers need.
type Test = { teardown(fn: () => unknown): void };

// One server for the whole file, started when the postgres engine first needs it.
let server: Promise<PgServer> | undefined;

const ENGINES: Array<{ name: string; open(t: Test): ResourceStore | Promise<ResourceStore> }> = [
  { name: 'memory', open: () => new MemoryStore() },
  {
    name: 'sqlite',
    open: (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-store-'));
      t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
      return new SqliteStore({ dir });
    },
  },
  {
    name: 'postgres',
    open: async () => {
      server ??= startPostgres(t);
      const pg = await server;
      return PostgresStore.open(pg.config(await pg.createDb()));
    },
  },
];

const tp = (mesh: string, name: string, service = 'backend'): ResourceInput => ({
  type: 'TrafficPermission',
  mesh,
  name,
  spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': service } }] },
});
const mesh = (name: string, extra: Record<string, unknown> = {}): ResourceInput => ({ type: 'Mesh', name, spec: { ...extra } });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

for (const engine of ENGINES) {
  t.test(engine.name, async (t) => {
    const fresh = async (t: Test): Promise<ResourceStore> => {
      const s = await engine.open(t);
      t.teardown(() => s.close());
      return s;
    };

    t.test('create then get returns the stored resource with bookkeeping', async (t) => {
      const s = await fresh(t);
      const created = await s.create({ ...tp('default', 'allow-all'), labels: { team: 'a' } });
      t.equal(created.meta.type, 'TrafficPermission');
      t.equal(created.meta.mesh, 'default');
      t.equal(created.meta.name, 'allow-all');
      t.match(created.meta.version, /^\d+$/);
      t.ok(Date.parse(created.meta.creationTime) > 0);
      t.equal(created.meta.creationTime, created.meta.modificationTime);
      t.same(created.meta.labels, { team: 'a' });
      t.same(await s.get('TrafficPermission', { mesh: 'default', name: 'allow-all' }), created);
      t.equal(await s.get('TrafficPermission', { mesh: 'other', name: 'allow-all' }), undefined);
      t.equal(await s.get('TrafficRoute', { mesh: 'default', name: 'allow-all' }), undefined);
      const m = await s.create(mesh('default', { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } }));
      t.notOk('mesh' in m.meta, 'global resources have no mesh');
      t.same((await s.get('Mesh', { name: 'default' }))?.spec, { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } });
    });

    t.test('returned objects are copies', async (t) => {
      const s = await fresh(t);
      const input = mesh('m', { a: { b: 1 } });
      const r = await s.create(input);
      input.spec.a.b = 2;
      r.spec.a.b = 3;
      (await s.get('Mesh', { name: 'm' }))!.spec.a.b = 4;
      t.same((await s.get('Mesh', { name: 'm' }))!.spec, { a: { b: 1 } });
    });

    t.test('list is sorted by mesh then name and filters by type and mesh', async (t) => {
      const s = await fresh(t);
      for (const [m, n] of [['b', 'z'], ['a', 'y'], ['b', 'a'], ['a', 'a-1'], ['a', 'a.1'], ['a', 'A'], ['c', 'x']]) await s.create(tp(m, n));
      await s.create(mesh('zz'));
      await s.create(mesh('aa'));
      const all = await s.list('TrafficPermission');
      t.same(all.map((r) => `${r.meta.mesh}/${r.meta.name}`), ['a/A', 'a/a-1', 'a/a.1', 'a/y', 'b/a', 'b/z', 'c/x']);
      t.same((await s.list('TrafficPermission', { mesh: 'b' })).map((r) => r.meta.name), ['a', 'z']);
      t.same(await s.list('TrafficPermission', { mesh: 'none' }), []);
      t.same((await s.list('Mesh')).map((r) => r.meta.name), ['aa', 'zz']);
      t.same(await s.list('Dataplane'), []);
    });

    t.test('update replaces spec and labels, keeps creationTime, changes version', async (t) => {
      const s = await fresh(t);
      const v1 = await s.create({ ...tp('default', 'p'), labels: { a: '1' } });
      await new Promise((r) => setTimeout(r, 5));
      const v2 = await s.update(tp('default', 'p', 'web'));
      t.not(v2.meta.version, v1.meta.version);
      t.ok(Number(v2.meta.version) > Number(v1.meta.version), 'versions increase');
      t.equal(v2.meta.creationTime, v1.meta.creationTime);
      t.ok(v2.meta.modificationTime > v1.meta.modificationTime);
      t.notOk('labels' in v2.meta, 'labels replaced (none given)');
      t.same((await s.get('TrafficPermission', { mesh: 'default', name: 'p' }))!.spec.destinations, [{ match: { 'kuma.io/service': 'web' } }]);
      t.equal(await codeOf(s.update(tp('default', 'missing'))), 'ERR_NOT_FOUND');
      t.equal(await s.get('TrafficPermission', { mesh: 'default', name: 'missing' }), undefined);
    });

    t.test('delete removes; deleting a missing resource is NotFound', async (t) => {
      const s = await fresh(t);
      await s.create(tp('default', 'p'));
      await s.delete('TrafficPermission', { mesh: 'default', name: 'p' });
      t.equal(await s.get('TrafficPermission', { mesh: 'default', name: 'p' }), undefined);
      t.equal(await codeOf(s.delete('TrafficPermission', { mesh: 'default', name: 'p' })), 'ERR_NOT_FOUND');
      t.same(await s.list('TrafficPermission'), []);
    });

    t.test('upsert creates, then updates', async (t) => {
      const s = await fresh(t);
      const a = await s.upsert(mesh('m', { v: 1 }));
      const b = await s.upsert(mesh('m', { v: 2 }));
      t.equal(b.meta.creationTime, a.meta.creationTime);
      t.ok(Number(b.meta.version) > Number(a.meta.version));
      t.same((await s.get('Mesh', { name: 'm' }))!.spec, { v: 2 });
      t.equal(await codeOf(s.upsert(mesh('new', { v: 1 }), { expectedVersion: '1' })), 'ERR_CONFLICT', 'expected version of an absent resource');
      t.equal(await s.get('Mesh', { name: 'new' }), undefined);
    });

    t.test('create of an existing resource is a Conflict and changes nothing', async (t) => {
      const s = await fresh(t);
      const first = await s.create(mesh('m', { v: 1 }));
      t.equal(await codeOf(s.create(mesh('m', { v: 2 }))), 'ERR_CONFLICT');
      t.same(await s.get('Mesh', { name: 'm' }), first);
    });

    t.test('a stale expectedVersion is refused and the stored value is unchanged', async (t) => {
      const s = await fresh(t);
      const v1 = await s.create(mesh('m', { v: 1 }));
      const v2 = await s.update(mesh('m', { v: 2 }), { expectedVersion: v1.meta.version });
      t.equal(await codeOf(s.update(mesh('m', { v: 3 }), { expectedVersion: v1.meta.version })), 'ERR_CONFLICT');
      t.equal(await codeOf(s.upsert(mesh('m', { v: 3 }), { expectedVersion: v1.meta.version })), 'ERR_CONFLICT');
      t.equal(await codeOf(s.delete('Mesh', { name: 'm' }, { expectedVersion: v1.meta.version })), 'ERR_CONFLICT');
      t.same(await s.get('Mesh', { name: 'm' }), v2);
      await s.delete('Mesh', { name: 'm' }, { expectedVersion: v2.meta.version });
      t.equal(await s.get('Mesh', { name: 'm' }), undefined);
    });

    t.test('versions are never reused, even after delete and re-create', async (t) => {
      const s = await fresh(t);
      const seen = new Set<string>();
      let last = 0;
      for (let i = 0; i < 5; i++) {
        const r = await s.create(mesh('m'));
        const r2 = await s.upsert(mesh('n'));
        for (const v of [r.meta.version, r2.meta.version]) {
          t.notOk(seen.has(v), `version ${v} is new`);
          t.ok(Number(v) > last, 'increasing');
          last = Number(v);
          seen.add(v);
        }
        await s.delete('Mesh', { name: 'm' });
      }
      // A stale version of a deleted-and-recreated resource must not match the new one.
      const old = await s.create(mesh('x'));
      await s.delete('Mesh', { name: 'x' });
      await s.create(mesh('x'));
      t.equal(await codeOf(s.update(mesh('x', { v: 1 }), { expectedVersion: old.meta.version })), 'ERR_CONFLICT');
    });

    t.test('a transaction is all or nothing', async (t) => {
      const s = await fresh(t);
      const events: StoreEvent[] = [];
      s.watch((ev) => events.push(ev));
      await s.create(mesh('existing', { v: 1 }));
      events.length = 0;
      const code = await codeOf(
        s.transaction([
          { op: 'create', input: mesh('a') },
          { op: 'upsert', input: mesh('existing', { v: 2 }) },
          { op: 'delete', type: 'Mesh', key: { name: 'existing' } },
          { op: 'update', input: mesh('missing') },
        ]),
      );
      t.equal(code, 'ERR_NOT_FOUND');
      t.same((await s.list('Mesh')).map((r) => [r.meta.name, r.spec]), [['existing', { v: 1 }]], 'nothing applied');
      t.same(events, [], 'no events for a failed transaction');
      t.equal(
        await codeOf(s.transaction([{ op: 'create', input: mesh('b') }, { op: 'create', input: mesh('b') }])),
        'ERR_CONFLICT',
        'ops see earlier ops of the same transaction',
      );
      t.equal(await s.get('Mesh', { name: 'b' }), undefined);

      const results = await s.transaction([
        { op: 'create', input: mesh('a') },
        { op: 'update', input: mesh('a', { v: 2 }) },
        { op: 'delete', type: 'Mesh', key: { name: 'existing' } },
        { op: 'create', input: tp('a', 'p') },
      ]);
      t.same(results.map((r) => [r.meta.type, r.meta.name, r.spec.v]), [['Mesh', 'a', undefined], ['Mesh', 'a', 2], ['TrafficPermission', 'p', undefined]]);
      t.same(events.map((e) => `${e.kind} ${e.resource.meta.name}`), ['create a', 'update a', 'delete existing', 'create p']);
      t.same((await s.list('Mesh')).map((r) => [r.meta.name, r.spec]), [['a', { v: 2 }]]);
      t.same(await s.transaction([]), []);
    });

    t.test('watchers hear every change after it is committed', async (t) => {
      const s = await fresh(t);
      const seen: Array<{ kind: string; name: string; version: string; visible: Promise<unknown> }> = [];
      const unsubscribe = s.watch((ev) => {
        // get() reads synchronously before its first await: this is the state at event time.
        seen.push({ kind: ev.kind, name: ev.resource.meta.name, version: ev.resource.meta.version, visible: s.get('Mesh', { name: ev.resource.meta.name }) });
      });
      s.watch(() => {
        throw new Error('a broken watcher must not break writes');
      });
      const c = await s.create(mesh('m', { v: 1 }));
      const u = await s.update(mesh('m', { v: 2 }));
      await s.delete('Mesh', { name: 'm' });
      t.same(seen.map((e) => `${e.kind} ${e.name} ${e.version}`), [`create m ${c.meta.version}`, `update m ${u.meta.version}`, `delete m ${u.meta.version}`]);
      const visible = await Promise.all(seen.map((e) => e.visible)) as Array<{ meta: { version: string } } | undefined>;
      t.equal(visible[0]?.meta.version, c.meta.version, 'create is readable when announced');
      t.equal(visible[1]?.meta.version, u.meta.version, 'update is readable when announced');
      t.equal(visible[2], undefined, 'delete is applied when announced');
      unsubscribe();
      await s.create(mesh('after'));
      t.equal(seen.length, 3, 'no events after unsubscribe');
      // Mutating an event must not corrupt the store.
      s.watch((ev) => (ev.resource.spec.v = 'mutated'));
      await s.create(mesh('z', { v: 1 }));
      t.same((await s.get('Mesh', { name: 'z' }))!.spec, { v: 1 });
    });

    t.test('two concurrent writers with the same expectedVersion: exactly one wins', async (t) => {
      const s = await fresh(t);
      for (let round = 0; round < 20; round++) {
        const base = await s.upsert(mesh('contended', { round, writer: 'none' }));
        const attempts = ['a', 'b'].map((w) => s.update(mesh('contended', { round, writer: w }), { expectedVersion: base.meta.version }));
        const codes = await Promise.all(attempts.map(codeOf));
        t.same([...codes].sort(), ['ERR_CONFLICT', 'resolved'], `round ${round}`);
        const winner = codes[0] === 'resolved' ? 'a' : 'b';
        t.equal((await s.get('Mesh', { name: 'contended' }))!.spec.writer, winner, 'the stored value is the winner\'s');
      }
    });

    t.test('odd but legal content round-trips', async (t) => {
      const s = await fresh(t);
      const spec = { unicode: 'zürich ☃ 𝄞', quote: `'"\\`, nested: { list: [1, 'two', null, true, { deep: [[]] }] }, big: 'x'.repeat(1 << 20) };
      await s.create({ type: 'Config', name: 'odd', spec, labels: { 'kuma.io/origin': 'zone' } });
      const back = await s.get('Config', { name: 'odd' });
      t.same(back!.spec, spec);
      t.same(back!.meta.labels, { 'kuma.io/origin': 'zone' });
    });
  });
}
