/** The store-backed VIP allocator: stable across a store reopen (SQLite), shared state, onChange, ingress services, exhaustion logged. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { MemoryStore } from '../../../cp/store/memory-store';
import { SqliteStore } from '../../../cp/store/sqlite-store';
import { StoreVipAllocator, VIPS_CONFIG_NAME } from '../../../cp/vips';

function dp(mesh: string, name: string, ...services: string[]) {
  return { type: 'Dataplane' as const, mesh, name, spec: { networking: { address: '127.0.0.1', inbound: services.map((s, i) => ({ port: 1000 + i, servicePort: 2000 + i, tags: { 'kuma.io/service': s } })) } } };
}

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('stable across a restart over SQLite; unique across meshes; ingress services included', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-vips-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  let store = new SqliteStore({ dir });
  for (const m of ['m1', 'm2']) await store.create({ type: 'Mesh', name: m, spec: {} });
  await store.create(dp('m1', 'web-1', 'web'));
  await store.create(dp('m2', 'web-1', 'web', 'api'));
  let vips = new StoreVipAllocator({ store, cidr: '127.64.0.0/10', debounceMs: 10 });
  await vips.start();
  const t1 = new Map(await vips.table('m1'));
  const t2 = new Map(await vips.table('m2'));
  t.same([...t1.keys()], ['web']);
  t.same([...t2.keys()], ['api', 'web']);
  const all = [...t1.values(), ...t2.values()];
  t.equal(new Set(all).size, all.length, 'unique across meshes');

  // A service seen only through another zone's ingress.
  const changes: string[] = [];
  vips.onChange((m) => changes.push(m));
  await store.create({ type: 'ZoneIngress', name: 'zi-2', spec: { networking: { address: '127.0.0.2', port: 10001 }, availableServices: [{ mesh: 'm1', tags: { 'kuma.io/service': 'billing' }, instances: 1 }] } });
  await until(() => changes.includes('m1'));
  t.notOk(changes.includes('m2'), 'only the mesh whose table changed is announced');
  const withBilling = new Map(await vips.table('m1'));
  t.ok(withBilling.get('billing'), 'ingress availableServices get VIPs');
  t.equal(withBilling.get('web'), t1.get('web'), 'existing VIP unchanged');
  await vips.close();
  await store.close();

  // Reopen: same VIPs, nothing rewritten.
  store = new SqliteStore({ dir });
  t.teardown(() => store.close());
  const before = (await store.get('Config', { name: VIPS_CONFIG_NAME }))!;
  vips = new StoreVipAllocator({ store, cidr: '127.64.0.0/10', debounceMs: 10 });
  await vips.start();
  t.teardown(() => vips.close());
  t.same(new Map(await vips.table('m1')), withBilling);
  t.same(new Map(await vips.table('m2')), t2);
  t.equal((await store.get('Config', { name: VIPS_CONFIG_NAME }))!.meta.version, before.meta.version, 'state not rewritten on restart');

  // table() sees a service created a moment ago (before the debounce fires).
  await store.create(dp('m2', 'db-1', 'db'));
  t.ok((await vips.table('m2')).get('db'), 'allocates for services not yet seen');
});

t.test('two allocators over one store agree (two CP replicas)', async (t) => {
  const store = new MemoryStore();
  await store.create({ type: 'Mesh', name: 'm', spec: {} });
  const a = new StoreVipAllocator({ store, debounceMs: 5 });
  const b = new StoreVipAllocator({ store, debounceMs: 5 });
  await Promise.all([a.start(), b.start()]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  for (let i = 0; i < 20; i++) await store.create(dp('m', `dp-${i}`, `svc-${i}`));
  await until(async () => (await a.table('m')).size === 20 && (await b.table('m')).size === 20);
  await new Promise((r) => setTimeout(r, 100));
  t.same(new Map(await a.table('m')), new Map(await b.table('m')));
  t.equal(new Set((await a.table('m')).values()).size, 20);
});

t.test('exhaustion is logged and the allocator keeps working', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
  const store = new MemoryStore();
  await store.create({ type: 'Mesh', name: 'm', spec: {} });
  await store.create(dp('m', 'a', 'a', 'b', 'c'));
  const vips = new StoreVipAllocator({ store, cidr: '10.0.0.0/30', log: pino({ level: 'info' }, sink), debounceMs: 5 });
  await vips.start();
  t.teardown(() => vips.close());
  t.equal((await vips.table('m')).size, 2);
  t.ok(lines.some((l) => /VIP range exhausted/.test(String(l.msg)) && (l.services as string[]).includes('m/c')), 'error names the service left out');
  await store.delete('Dataplane', { mesh: 'm', name: 'a' });
  await store.create(dp('m', 'a2', 'c'));
  await until(async () => (await vips.table('m')).has('c'));
  t.equal((await vips.table('m')).size, 1);
});

t.test('a bad CIDR stops start() with the variable named', async (t) => {
  const vips = new StoreVipAllocator({ store: new MemoryStore(), cidr: 'fd00::/8' });
  await t.rejects(vips.start(), { code: 'ERR_VALIDATION', message: /KUMA_DNS_SERVER_CIDR/ });
  await vips.close();
});
