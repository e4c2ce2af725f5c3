/**
 * The REST API on a real socket (127.0.0.1, port 0) over a real store: Kuma's paths and
 * list shape, every refusal (malformed bodies, unknown types, wrong field types, oversize
 * bodies, identity mismatches, missing meshes, stale If-Match), concurrent writers,
 * mesh-delete cascade, the transactional /_apply, and the extension hooks.
 */
import t from 'tap';
import http from 'node:http';
import { ApiServer } from '../../../cp/api-server/api-server';
import { ApiExtensions } from '../../../cp/api-server/extension-registry';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryStore } from '../../../cp/store/memory-store';
import { createStore } from '../../../cp/store/index';
import type { ResourceStore } from '../../../cp/store/store';
import { silentLogger } from '../../../lib/logger';
import { ValidationError } from '../../../lib/errors';

interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

/** The engine under test: memory, or sqlite in a temp dir (set per section at the end; tap runs sections one after the other). */
let engine: 'memory' | 'sqlite' = 'memory';

async function newStore(t: { teardown(fn: () => unknown): void }): Promise<ResourceStore> {
  if (engine === 'memory') return new MemoryStore();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'api-sqlite-'));
  const store = await createStore({ type: 'sqlite', workDir: dir });
  t.teardown(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

async function startServer(t: { teardown(fn: () => unknown): void }, storeArg?: ResourceStore, extensions = new ApiExtensions()) {
  const store = storeArg ?? (await newStore(t));
  const server = new ApiServer({ store, log: silentLogger(), port: 0, address: '127.0.0.1', extensions, info: { version: 'test', mode: 'standalone' } });
  await server.start();
  t.teardown(() => server.destroy());
  const base = `http://127.0.0.1:${server.port}`;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      if (!headers['content-type']) (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const res = await fetch(base + path, { ...init, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // text bodies stay text
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
  return { server, store, base, call };
}

const dp = (name: string, mesh = 'default', port = 8080) => ({
  type: 'Dataplane',
  mesh,
  name,
  networking: { address: '127.0.0.1', inbound: [{ port, servicePort: port + 1, tags: { 'kuma.io/service': 'web' } }] },
});

function suite(tt: { test: typeof t.test }): void {
  tt.test('index and mesh CRUD with Kuma paths and list shape', async (t) => {
    const { call, store } = await startServer(t);
    t.equal(store.constructor.name, engine === 'memory' ? 'MemoryStore' : 'SqliteStore', `runs on the ${engine} store`);
    const idx = await call('GET', '/');
    t.equal(idx.status, 200);
    t.equal(idx.body.tagline, 'Kuma');
    t.equal(idx.body.version, 'test');

    const created = await call('PUT', '/meshes/default', { type: 'Mesh', name: 'default' });
    t.equal(created.status, 201, 'create answers 201');
    t.equal(created.body.name, 'default');
    const got = await call('GET', '/meshes/default');
    t.equal(got.status, 200);
    t.match(got.headers.get('etag'), /^"\S+"$/, 'GET carries an ETag');
    const mtls = { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] };
    const updated = await call('PUT', '/meshes/default', { type: 'Mesh', name: 'default', mtls });
    t.equal(updated.status, 200, 'update answers 200');
    t.same(updated.body.mtls, mtls);
    t.not(updated.headers.get('etag'), got.headers.get('etag'), 'version changes on write');

    const list = await call('GET', '/meshes');
    t.same(Object.keys(list.body).sort(), ['items', 'next', 'total']);
    t.equal(list.body.total, 1);
    t.equal(list.body.next, null);
    t.equal(list.body.items[0].type, 'Mesh');

    const del = await call('DELETE', '/meshes/default');
    t.equal(del.status, 200);
    const gone = await call('GET', '/meshes/default');
    t.equal(gone.status, 404);
    t.type(gone.body.title, 'string');
    t.match(gone.body.details, /Mesh default not found/);
    t.equal((await store.list('Mesh')).length, 0);
  });

  tt.test('mesh-scoped CRUD, cross-mesh list, global types, paging', async (t) => {
    const { call } = await startServer(t);
    await call('PUT', '/meshes/default', { type: 'Mesh', name: 'default' });
    await call('PUT', '/meshes/other', { type: 'Mesh', name: 'other' });
    t.equal((await call('PUT', '/meshes/default/dataplanes/dp-1', dp('dp-1'))).status, 201);
    t.equal((await call('PUT', '/meshes/other/dataplanes/dp-2', dp('dp-2', 'other'))).status, 201);
    // The body may omit identity: it comes from the URL.
    const { type: _t, mesh: _m, name: _n, ...specOnly } = dp('dp-3');
    t.equal((await call('PUT', '/meshes/default/dataplanes/dp-3', specOnly)).status, 201);

    const inMesh = await call('GET', '/meshes/default/dataplanes');
    t.same(inMesh.body.items.map((i: any) => i.name), ['dp-1', 'dp-3']);
    const all = await call('GET', '/dataplanes');
    t.same(all.body.items.map((i: any) => `${i.mesh}/${i.name}`), ['default/dp-1', 'default/dp-3', 'other/dp-2']);
    const one = await call('GET', '/meshes/default/dataplanes/dp-1');
    t.equal(one.body.networking.inbound[0].port, 8080);
    t.equal((await call('GET', '/dataplanes/dp-1')).status, 404, 'mesh-scoped types have no global item path');

    const zi = { type: 'ZoneIngress', name: 'zi-1', networking: { address: '127.0.0.1', port: 10001, advertisedAddress: '127.0.0.1', advertisedPort: 10001 } };
    const ziPut = await call('PUT', '/zoneingresses/zi-1', zi);
    t.equal(ziPut.status, 201, JSON.stringify(ziPut.body));
    t.equal((await call('GET', '/zoneingresses')).body.total, 1);

    for (let i = 0; i < 5; i++) await call('PUT', `/meshes/m-${i}`, { type: 'Mesh', name: `m-${i}` });
    const page1 = await call('GET', '/meshes?size=3');
    t.equal(page1.body.total, 7);
    t.equal(page1.body.items.length, 3);
    t.match(page1.body.next, /^http:\/\/127\.0\.0\.1:\d+\/meshes\?size=3&offset=3$/);
    const page3 = await call('GET', new URL((await call('GET', new URL(page1.body.next).pathname + new URL(page1.body.next).search)).body.next).pathname + '?size=3&offset=6');
    t.equal(page3.body.items.length, 1);
    t.equal(page3.body.next, null);
    const bad = await call('GET', '/meshes?size=0');
    t.equal(bad.status, 400);
    t.match(bad.body.details, /size/);
  });

  tt.test('bad input is refused with Kuma errors and nothing is stored', async (t) => {
    const { call, store } = await startServer(t);
    await call('PUT', '/meshes/default', { type: 'Mesh', name: 'default' });
    const before = JSON.stringify(await store.list('Dataplane'));

    const malformed = await call('PUT', '/meshes/default/dataplanes/dp-1', '{"type": "Dataplane",\n "name": }');
    t.equal(malformed.status, 400);
    t.match(malformed.body.details, /not valid JSON at line 2, column \d+/);

    const badYaml = await call('PUT', '/meshes/default/dataplanes/dp-1', 'type: Dataplane\nname: [dp-1\n', { 'content-type': 'application/yaml' });
    t.equal(badYaml.status, 400);
    t.match(badYaml.body.details, /not valid YAML at line \d+, column \d+/);

    const unsupported = await call('PUT', '/meshes/default/dataplanes/dp-1', '<xml/>', { 'content-type': 'application/xml' });
    t.equal(unsupported.status, 415);

    const unknownCollection = await call('PUT', '/meshes/default/widgets/w', { type: 'Widget', name: 'w' });
    t.equal(unknownCollection.status, 404);
    t.match(unknownCollection.body.details, /unknown mesh-scoped collection "widgets"/);

    const wrongType = await call('PUT', '/meshes/default/dataplanes/dp-1', { ...dp('dp-1'), type: 'TrafficRoute' });
    t.equal(wrongType.status, 400);
    t.match(wrongType.body.causes, [{ field: 'type', message: /"TrafficRoute".*"Dataplane"/ }]);

    const unknownType = await call('POST', '/_apply', { resources: [{ type: 'Widget', name: 'w' }] });
    t.equal(unknownType.status, 400);
    t.match(unknownType.body.causes, [{ field: 'resources[0].type', message: /unknown resource type "Widget"/ }]);

    const fieldType = await call('PUT', '/meshes/default/dataplanes/dp-1', { ...dp('dp-1'), networking: { address: 5, inbound: [{ port: 'x', tags: { 'kuma.io/service': 'web' } }] } });
    t.equal(fieldType.status, 400);
    t.equal(fieldType.body.title, 'Could not process a resource');
    const fields = fieldType.body.causes.map((c: any) => c.field);
    t.ok(fields.includes('networking.address'), `causes name networking.address: ${JSON.stringify(fieldType.body.causes)}`);
    t.ok(fields.includes('networking.inbound[0].port'), 'and every other violation');

    const mismatch = await call('PUT', '/meshes/default/dataplanes/dp-1', dp('dp-9'));
    t.equal(mismatch.status, 400);
    t.match(mismatch.body.causes, [{ field: 'name', message: /"dp-9".*"dp-1"/ }]);
    const meshMismatch = await call('PUT', '/meshes/default/dataplanes/dp-1', dp('dp-1', 'other'));
    t.equal(meshMismatch.status, 400);
    t.match(meshMismatch.body.causes, [{ field: 'mesh', message: /"other".*"default"/ }]);

    const noMesh = await call('PUT', '/meshes/nope/dataplanes/dp-1', dp('dp-1', 'nope'));
    t.equal(noMesh.status, 400);
    t.match(noMesh.body.causes, [{ field: 'mesh', message: /nope/ }]);

    const config = await call('PUT', '/configs/vips', { type: 'Config', name: 'vips', config: '{}' });
    t.equal(config.status, 400, 'internal Config resources cannot be written through the API');
    t.match(config.body.causes, [{ field: 'type', message: /read-only/ }]);
    t.equal((await call('DELETE', '/configs/vips')).status, 400);

    const proto = await call('PUT', '/meshes/default/dataplanes/dp-1', '{"__proto__": {"polluted": 1}, "type": "Dataplane", "name": "dp-1"}');
    t.equal(proto.status, 400);
    t.match(proto.body.causes, [{ field: '__proto__' }]);
    t.equal(({} as any).polluted, undefined);

    const wide: Record<string, unknown> = dp('dp-1');
    for (let i = 0; i < 5000; i++) wide[`k${i}`] = i;
    const many = await call('PUT', '/meshes/default/dataplanes/dp-1', wide);
    t.equal(many.status, 400);
    t.equal(many.body.causes.length, 101, 'causes are capped at 100 plus a summary');
    t.match(many.body.causes[100].message, /and 4900 more violations/);

    const deep = '{"type":"Dataplane","name":"dp-1","networking":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    t.equal((await call('PUT', '/meshes/default/dataplanes/dp-1', deep)).status, 400, 'deep nesting is refused, not a crash');

    const notObject = await call('PUT', '/meshes/default/dataplanes/dp-1', [1, 2]);
    t.equal(notObject.status, 400);

    const badPath = await call('GET', '/meshes/%E0%A4%A');
    t.equal(badPath.status, 400);

    const method = await call('POST', '/meshes/default');
    t.equal(method.status, 405);
    t.match(method.headers.get('allow'), /GET/);

    t.equal(JSON.stringify(await store.list('Dataplane')), before, 'the store is unchanged');
    t.equal((await store.list('Mesh')).length, 1);
  });

  tt.test('an oversize body gets 413 and the store is unchanged', async (t) => {
    const { call, store, server } = await startServer(t);
    await call('PUT', '/meshes/default', { type: 'Mesh', name: 'default' });
    const big = { ...dp('dp-big'), labels: { pad: 'x'.repeat(1024 * 1024 + 10) } };
    const res = await call('PUT', '/meshes/default/dataplanes/dp-big', big);
    t.equal(res.status, 413);
    t.match(res.body.details, /larger than 1048576 bytes/);
    t.equal((await store.list('Dataplane')).length, 0);

    // Without Content-Length (chunked), the cap still holds.
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, method: 'PUT', path: '/meshes/default/dataplanes/dp-big', headers: { 'content-type': 'application/json' } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write(Buffer.alloc(128 * 1024, 0x20));
      req.end();
    });
    t.equal(status, 413);
    t.equal((await store.list('Dataplane')).length, 0);
    t.equal((await call('GET', '/meshes/default')).status, 200, 'the server still serves');
  });

  tt.test('If-Match: stale versions get 409, concurrent writers never both win', async (t) => {
    const { call } = await startServer(t);
    const first = await call('PUT', '/meshes/default', { type: 'Mesh', name: 'default' });
    const v1 = first.headers.get('etag')!;
    const ok = await call('PUT', '/meshes/default', { type: 'Mesh', name: 'default' }, { 'if-match': v1 });
    t.equal(ok.status, 200);
    const stale = await call('PUT', '/meshes/default', { type: 'Mesh', name: 'default' }, { 'if-match': v1 });
    t.equal(stale.status, 409);
    t.match(stale.body.details, /changed concurrently/);
    const staleDelete = await call('DELETE', '/meshes/default', undefined, { 'if-match': v1 });
    t.equal(staleDelete.status, 409);
    t.equal((await call('GET', '/meshes/default')).status, 200, 'a stale delete deletes nothing');
    const missing = await call('PUT', '/meshes/nope', { type: 'Mesh', name: 'nope' }, { 'if-match': '"1"' });
    t.equal(missing.status, 409, 'If-Match on a missing resource is a conflict');

    const v2 = ok.headers.get('etag')!;
    const racers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call('PUT', '/meshes/default', { type: 'Mesh', name: 'default', labels: { writer: String(i) } }, { 'if-match': v2 })),
    );
    const statuses = racers.map((r) => r.status).sort();
    t.equal(statuses.filter((s) => s === 200).length, 1, 'exactly one writer with the same version wins');
    t.equal(statuses.filter((s) => s === 409).length, 19, 'the others get 409');
    const winner = racers.find((r) => r.status === 200)!;
    t.same((await call('GET', '/meshes/default')).body.labels, winner.body.labels, 'the stored state is the winner');

    const blind = await Promise.all(Array.from({ length: 10 }, (_, i) => call('PUT', `/meshes/default/dataplanes/dp-${i % 2}`, dp(`dp-${i % 2}`, 'default', 8000 + i))));
    t.ok(blind.every((r) => r.status === 200 || r.status === 201), 'writers without If-Match all succeed (last write wins)');
    t.equal(blind.filter((r) => r.status === 201).length, 2, 'exactly one create per name');
  });

  tt.test('deleting a mesh deletes its resources in one transaction', async (t) => {
    const { call, store } = await startServer(t);
    await call('PUT', '/meshes/default', { type: 'Mesh', name: 'default' });
    await call('PUT', '/meshes/keep', { type: 'Mesh', name: 'keep' });
    await call('PUT', '/meshes/default/dataplanes/dp-1', dp('dp-1'));
    await call('PUT', '/meshes/keep/dataplanes/dp-1', dp('dp-1', 'keep'));
    const tp = { type: 'TrafficPermission', mesh: 'default', name: 'allow-all', sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }] };
    t.equal((await call('PUT', '/meshes/default/traffic-permissions/allow-all', tp)).status, 201);
    const txs: number[] = [];
    const orig = store.transaction.bind(store);
    store.transaction = async (ops) => {
      txs.push(ops.length);
      return orig(ops);
    };
    t.equal((await call('DELETE', '/meshes/default')).status, 200);
    t.same(txs, [3], 'one transaction with the dataplane, the permission and the mesh');
    t.same((await store.list('Dataplane')).map((r) => r.meta.mesh), ['keep']);
    t.equal((await store.list('TrafficPermission')).length, 0);
    t.equal((await call('GET', '/meshes/keep/dataplanes/dp-1')).status, 200);
  });

  tt.test('PUT accepts YAML bodies', async (t) => {
    const { call } = await startServer(t);
    await call('PUT', '/meshes/default', { type: 'Mesh', name: 'default' });
    const yaml = 'type: Dataplane\nmesh: default\nname: dp-y\nnetworking:\n  address: 127.0.0.1\n  inbound:\n  - port: 9000\n    tags:\n      kuma.io/service: y\n';
    const res = await call('PUT', '/meshes/default/dataplanes/dp-y', yaml, { 'content-type': 'application/yaml' });
    t.equal(res.status, 201, JSON.stringify(res.body));
    t.equal(res.body.networking.inbound[0].tags['kuma.io/service'], 'y');
  });

  tt.test('/_apply is all-or-nothing and reports every error with its document index', async (t) => {
    const { call, store } = await startServer(t);
    const docs = [
      { type: 'Mesh', name: 'm1' },
      { ...dp('dp-1', 'm1'), networking: { address: 7 } },
      { type: 'Mesh', name: 'Bad Name' },
    ];
    const refused = await call('POST', '/_apply', { resources: docs });
    t.equal(refused.status, 400);
    const fields = refused.body.causes.map((c: any) => c.field);
    t.ok(fields.some((f: string) => f.startsWith('resources[1].networking')), JSON.stringify(fields));
    t.ok(fields.includes('resources[2].name'));
    t.equal((await store.list('Mesh')).length, 0, 'nothing was written');

    const dup = await call('POST', '/_apply', { resources: [{ type: 'Mesh', name: 'm1' }, { type: 'Mesh', name: 'm1' }] });
    t.equal(dup.status, 400);
    t.match(dup.body.causes, [{ field: 'resources[1]', message: /appears twice/ }]);

    const ok = await call('POST', '/_apply', { resources: [{ type: 'Mesh', name: 'm1' }, dp('dp-1', 'm1')] });
    t.equal(ok.status, 200, JSON.stringify(ok.body));
    t.same(ok.body.results, [
      { type: 'Mesh', name: 'm1', status: 'created' },
      { type: 'Dataplane', mesh: 'm1', name: 'dp-1', status: 'created' },
    ]);
    const again = await call('POST', '/_apply', [dp('dp-1', 'm1')]);
    t.same(again.body.results, [{ type: 'Dataplane', mesh: 'm1', name: 'dp-1', status: 'updated' }]);
  });

  tt.test('extensions: extra routes, write guards, dataplane status', async (t) => {
    const ext = new ApiExtensions();
    ext.addRoute({ method: 'GET', path: '/zones+insights', handler: async () => ({ status: 200, body: { total: 0, items: [], next: null } }) });
    ext.addRoute({ method: 'POST', path: '/tokens/dataplane', handler: async (req) => ({ status: 200, body: `token-for-${(req.body as any).name}` }) });
    t.throws(() => ext.addRoute({ method: 'POST', path: '/tokens/dataplane', handler: async () => ({ status: 200 }) }), { code: 'ERR_USAGE' });
    ext.addWriteGuard((op, input) => {
      if (op === 'upsert' && input.type === 'Dataplane' && input.name.startsWith('forbidden')) {
        throw new ValidationError('refused', [{ field: 'name', message: 'this CP does not accept it' }]);
      }
    });
    ext.setDataplaneStatusProvider({ status: (mesh, name) => ({ online: name === 'dp-on', subscriptions: name === 'dp-on' ? [{ id: 's1', controlPlaneInstanceId: 'cp' }] : [] }) });
    const { call } = await startServer(t, undefined, ext);
    t.same((await call('GET', '/zones+insights')).body, { total: 0, items: [], next: null }, 'the extra route beats /{collection}');
    const tok = await call('POST', '/tokens/dataplane', { name: 'dp-1' });
    t.equal(tok.body, 'token-for-dp-1');
    t.match(tok.headers.get('content-type'), /text\/plain/);

    await call('PUT', '/meshes/default', { type: 'Mesh', name: 'default' });
    const refused = await call('PUT', '/meshes/default/dataplanes/forbidden-1', dp('forbidden-1'));
    t.equal(refused.status, 400);
    t.match(refused.body.causes, [{ field: 'name', message: /does not accept/ }]);
    const refusedApply = await call('POST', '/_apply', [dp('ok-1'), dp('forbidden-2'), dp('forbidden-3')]);
    t.equal(refusedApply.status, 400, 'guards run on /_apply too');
    t.same(refusedApply.body.causes.map((c: any) => c.field), ['resources[1].name', 'resources[2].name'], 'every refused document is named');
    t.equal((await call('GET', '/meshes/default/dataplanes/ok-1')).status, 404, 'nothing of a refused apply is written');

    await call('PUT', '/meshes/default/dataplanes/dp-on', dp('dp-on'));
    await call('PUT', '/meshes/default/dataplanes/dp-off', dp('dp-off'));
    const ins = await call('GET', '/meshes/default/dataplanes+insights');
    t.equal(ins.body.total, 2);
    t.same(
      ins.body.items.map((i: any) => [i.name, i.online, i.dataplaneInsight.subscriptions.length, i.dataplane.networking.inbound[0].port]),
      [
        ['dp-off', false, 0, 8080],
        ['dp-on', true, 1, 8080],
      ],
    );
    const single = await call('GET', '/meshes/default/dataplanes+insights/dp-on');
    t.equal(single.body.type, 'DataplaneOverview');
    t.equal((await call('GET', '/meshes/default/dataplanes+insights/none')).status, 404);
  });
}

for (const e of ['memory', 'sqlite'] as const) {
  t.test(`store: ${e}`, async (t) => {
    engine = e;
    suite(t);
  });
}
