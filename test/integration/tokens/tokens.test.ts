/**
 * Tokens end to end over a real store: issue, verify, expiry, wrong mesh/name/kind,
 * revocation, tampering, verification with only the public keys (as a zone holds them),
 * and the REST routes through the real API server and kumactl.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../lib/logger';
import { MemoryStore } from '../../../cp/store/memory-store';
import { ApiServer } from '../../../cp/api-server/api-server';
import { ApiExtensions } from '../../../cp/api-server/extension-registry';
import { StoreTokenVerifier, TokenIssuer, tokenRoutes } from '../../../cp/tokens';

const HOUR = 3_600_000;

async function meshStore(...meshes: string[]): Promise<MemoryStore> {
  const store = new MemoryStore();
  for (const m of meshes) await store.create({ type: 'Mesh', name: m, spec: {} });
  return store;
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

t.test('dataplane tokens: valid, wrong mesh/name/kind, expired, revoked, tampered', async (t) => {
  const store = await meshStore('m1', 'm2');
  const issuer = new TokenIssuer({ store });
  const verifier = new StoreTokenVerifier(store);
  const tok = await issuer.issueDataplane({ mesh: 'm1', name: 'dp-1', tags: { 'kuma.io/service': ['web'] }, type: 'dataplane', validForMs: HOUR });
  t.match(tok, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'compact JWS');
  const claims = await verifier.verify(tok, { kind: 'dataplane', mesh: 'm1', name: 'dp-1' });
  t.equal(claims.kind, 'dataplane');
  t.equal(claims.mesh, 'm1');
  t.equal(claims.name, 'dp-1');
  t.same(claims.tags, { 'kuma.io/service': ['web'] });
  t.ok(claims.expiresAt && Math.abs(claims.expiresAt.getTime() - (Date.now() + HOUR)) < 5000);

  await t.rejects(verifier.verify(tok, { kind: 'dataplane', mesh: 'm2', name: 'dp-1' }), { code: 'ERR_AUTH', status: 403, message: 'token is for mesh "m1", expected mesh "m2"' });
  await t.rejects(verifier.verify(tok, { kind: 'dataplane', mesh: 'm1', name: 'dp-2' }), { status: 403, message: /"dp-1", expected "dp-2"/ });
  await t.rejects(verifier.verify(tok, { kind: 'ingress', name: 'dp-1' }), { status: 403, message: /expected a ingress token/ });

  // Each mesh has its own key: m2's token does not verify under m1's key even if relabelled.
  const m2 = await issuer.issueDataplane({ mesh: 'm2', name: 'dp-1', type: 'dataplane', validForMs: HOUR });
  t.equal((await verifier.verify(m2, { kind: 'dataplane', mesh: 'm2' })).mesh, 'm2');
  const [h2, , s2] = m2.split('.');
  const [, p1] = tok.split('.');
  await t.rejects(verifier.verify(`${h2}.${p1}.${s2}`, { kind: 'dataplane', mesh: 'm1' }), { status: 401, message: /key|signature/ });

  // Tampered payload: claim another name with the original signature.
  const [h, p, s] = tok.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), name: 'dp-2' })).toString('base64url');
  await t.rejects(verifier.verify(`${h}.${forged}.${s}`, { kind: 'dataplane', mesh: 'm1', name: 'dp-2' }), { status: 401, message: 'token signature is invalid' });
  // Tampered signature.
  const badSig = s.slice(0, -4) + (s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA');
  await t.rejects(verifier.verify(`${h}.${p}.${badSig}`, { kind: 'dataplane', mesh: 'm1' }), { status: 401, message: 'token signature is invalid' });
  // alg=none and garbage.
  const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.`;
  await t.rejects(verifier.verify(none, { kind: 'dataplane', mesh: 'm1' }), { status: 401, message: /malformed token: algorithm "none"/ });
  await t.rejects(verifier.verify('garbage', { kind: 'dataplane' }), { status: 401, message: /^malformed token/ });
  await t.rejects(verifier.verify('', { kind: 'dataplane' }), { status: 401, message: /malformed/ });
  await t.rejects(verifier.verify('a'.repeat(20_000), { kind: 'dataplane' }), { status: 401, message: /longer than/ });

  // Expired: issued with a clock two hours back, valid for one.
  const past = new TokenIssuer({ store, now: () => new Date(Date.now() - 2 * HOUR) });
  const old = await past.issueDataplane({ mesh: 'm1', name: 'dp-1', type: 'dataplane', validForMs: HOUR });
  await t.rejects(verifier.verify(old, { kind: 'dataplane', mesh: 'm1', name: 'dp-1' }), { status: 401, message: /^token expired at \d{4}-/ });

  // Revoked.
  await store.create({ type: 'Secret', mesh: 'm1', name: 'dataplane-token-revocations-m1', spec: { data: b64(`other\n${claims.id}\n`) } });
  await t.rejects(verifier.verify(tok, { kind: 'dataplane', mesh: 'm1', name: 'dp-1' }), { status: 401, message: /has been revoked/ });
  const fresh = await issuer.issueDataplane({ mesh: 'm1', name: 'dp-1', type: 'dataplane', validForMs: HOUR });
  t.equal((await verifier.verify(fresh, { kind: 'dataplane', mesh: 'm1', name: 'dp-1' })).name, 'dp-1', 'other tokens stay valid');

  await t.rejects(issuer.issueDataplane({ mesh: 'nope', type: 'dataplane', validForMs: HOUR }), { code: 'ERR_NOT_FOUND' });
  await t.rejects(issuer.issueDataplane({ mesh: 'm1', type: 'dataplane', validForMs: 0 }), { code: 'ERR_VALIDATION', message: /validFor/ });
  const names = (await store.list('Secret', { mesh: 'm1' })).map((r) => r.meta.name);
  t.same(names, ['dataplane-token-revocations-m1', 'dataplane-token-signing-key-m1', 'dataplane-token-signing-public-key-m1']);
});

t.test('verification with public keys only (a zone), and zone-local issuing beside global keys', async (t) => {
  const global = await meshStore('m1');
  const issuer = new TokenIssuer({ store: global });
  const dp = await issuer.issueDataplane({ mesh: 'm1', name: 'dp-1', type: 'dataplane', validForMs: HOUR });
  const ingress = await issuer.issueDataplane({ mesh: 'm1', name: 'ingress-1', type: 'ingress', validForMs: HOUR });
  const zoneTok = await issuer.issueZone({ zone: 'zone-1', scope: ['cp'], validForMs: HOUR });

  // Copy only what KDS copies: the public key secrets.
  const zone = await meshStore('m1');
  const pub = (await global.get('Secret', { mesh: 'm1', name: 'dataplane-token-signing-public-key-m1' }))!;
  await zone.create({ type: 'Secret', mesh: 'm1', name: pub.meta.name, spec: pub.spec });
  t.notOk(await zone.get('Secret', { mesh: 'm1', name: 'dataplane-token-signing-key-m1' }), 'no private key on the zone');
  const verifier = new StoreTokenVerifier(zone);
  t.equal((await verifier.verify(dp, { kind: 'dataplane', mesh: 'm1', name: 'dp-1' })).name, 'dp-1');
  t.equal((await verifier.verify(ingress, { kind: 'ingress', name: 'ingress-1' })).kind, 'ingress');
  await t.rejects(verifier.verify(zoneTok, { kind: 'zone', zone: 'zone-1' }), { status: 401, message: /unknown key.*zone-token-signing-public-key-1/ });

  // The zone issues its own tokens under a zone-suffixed key; both kinds verify there.
  const zoneIssuer = new TokenIssuer({ store: zone, zone: 'zone-1' });
  const local = await zoneIssuer.issueDataplane({ mesh: 'm1', name: 'dp-2', type: 'dataplane', validForMs: HOUR });
  t.equal((await verifier.verify(local, { kind: 'dataplane', mesh: 'm1', name: 'dp-2' })).name, 'dp-2');
  t.equal((await verifier.verify(dp, { kind: 'dataplane', mesh: 'm1', name: 'dp-1' })).name, 'dp-1');
  t.equal((await zone.get('Secret', { mesh: 'm1', name: pub.meta.name }))!.spec.data, pub.spec.data, "global's public key untouched");
  // Global does not know the zone's key.
  await t.rejects(new StoreTokenVerifier(global).verify(local, { kind: 'dataplane', mesh: 'm1' }), { status: 401, message: /unknown key/ });
});

t.test('zone tokens: zone, scope, revocation', async (t) => {
  const store = await meshStore();
  const issuer = new TokenIssuer({ store });
  const verifier = new StoreTokenVerifier(store);
  const cp = await issuer.issueZone({ zone: 'zone-1', scope: ['cp'], validForMs: HOUR });
  const c = await verifier.verify(cp, { kind: 'zone', zone: 'zone-1' });
  t.same([c.zone, c.scope], ['zone-1', ['cp']]);
  await t.rejects(verifier.verify(cp, { kind: 'zone', zone: 'zone-2' }), { status: 403, message: /expected zone "zone-2"/ });
  await t.rejects(verifier.verify(cp, { kind: 'dataplane', mesh: 'm1' }), { status: 403, message: /zone token, expected a dataplane/ });
  const ing = await issuer.issueZone({ zone: 'zone-1', scope: ['ingress'], validForMs: HOUR });
  await t.rejects(verifier.verify(ing, { kind: 'zone', zone: 'zone-1' }), { status: 403, message: /scope/ });
  t.same((await store.list('GlobalSecret')).map((r) => r.meta.name), ['zone-token-signing-key-1', 'zone-token-signing-public-key-1']);
  await store.create({ type: 'GlobalSecret', name: 'zone-token-revocations', spec: { data: b64(c.id) } });
  await t.rejects(verifier.verify(cp, { kind: 'zone', zone: 'zone-1' }), { status: 401, message: /revoked/ });
});

t.test('concurrent first issues share one signing key', async (t) => {
  const store = await meshStore('m1');
  const a = new TokenIssuer({ store });
  const b = new TokenIssuer({ store });
  const toks = await Promise.all([a, a, b].map((i) => i.issueDataplane({ mesh: 'm1', type: 'dataplane', validForMs: HOUR })));
  const v = new StoreTokenVerifier(store);
  for (const tok of toks) t.equal((await v.verify(tok, { kind: 'dataplane', mesh: 'm1' })).mesh, 'm1');
});

function post(port: number, p: string, body: unknown): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST', headers: { 'content-type': 'application/json' }, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), text }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

t.test('REST routes through the API server, and kumactl generate', async (t) => {
  const store = await meshStore('default', 'm1');
  const ext = new ApiExtensions();
  const issuer = new TokenIssuer({ store });
  for (const r of tokenRoutes(issuer)) ext.addRoute(r);
  const api = new ApiServer({ store, log: silentLogger(), port: 0, address: '127.0.0.1', extensions: ext, info: { version: 'test', mode: 'standalone' } });
  await api.start();
  t.teardown(() => api.close());
  const verifier = new StoreTokenVerifier(store);

  const ok = await post(api.port, '/tokens/dataplane', { mesh: 'm1', name: 'dp-1', tags: { 'kuma.io/service': ['web'] }, type: 'dataplane', validFor: '24h' });
  t.equal(ok.status, 200, ok.text);
  t.match(ok.type, /^text\/plain/);
  const c = await verifier.verify(ok.text, { kind: 'dataplane', mesh: 'm1', name: 'dp-1' });
  t.ok(c.expiresAt!.getTime() - Date.now() > 23 * HOUR);

  const bad = await post(api.port, '/tokens/dataplane', { name: 7, type: 'sidecar', validFor: 'soon', tags: ['x'] });
  t.equal(bad.status, 400);
  const causes = JSON.parse(bad.text).causes.map((x: { field: string }) => x.field).sort();
  t.same(causes, ['mesh', 'name', 'tags', 'type', 'validFor']);
  t.equal((await post(api.port, '/tokens/dataplane', { mesh: 'nope' })).status, 404);

  const z = await post(api.port, '/tokens/zone', { zone: 'zone-1', scope: ['cp', 'ingress'], validFor: '1h' });
  t.equal(z.status, 200, z.text);
  t.same((await verifier.verify(z.text, { kind: 'zone', zone: 'zone-1' })).scope, ['cp', 'ingress']);
  const zb = await post(api.port, '/tokens/zone', { scope: ['cp', 'admin'] });
  t.equal(zb.status, 400);
  t.same(JSON.parse(zb.text).causes.map((x: { field: string }) => x.field).sort(), ['scope[1]', 'zone']);

  // kumactl, the real client, against the same server.
  const kumactl = path.resolve(__dirname, '../../../kumactl/main.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-tokens-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Asynchronous on purpose: the API server runs in this process and must keep answering.
  const run = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [kumactl, ...args, '--cp-address', `http://127.0.0.1:${api.port}`, '--config-file', path.join(dir, 'config.yaml')],
        { encoding: 'utf8', timeout: 20_000, env: { ...process.env, HOME: dir } },
        (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: unknown }).code as number) ?? null : 0, stdout, stderr }),
      );
    });
  const gen = await run(['generate', 'dataplane-token', '--mesh', 'm1', '--name', 'dp-9', '--valid-for', '1h']);
  t.equal(gen.status, 0, gen.stderr);
  t.equal((await verifier.verify(gen.stdout.trim(), { kind: 'dataplane', mesh: 'm1', name: 'dp-9' })).name, 'dp-9');
  const zgen = await run(['generate', 'zone-token', '--zone', 'zone-2', '--scope', 'cp']);
  t.equal(zgen.status, 0, zgen.stderr);
  t.equal((await verifier.verify(zgen.stdout.trim(), { kind: 'zone', zone: 'zone-2' })).zone, 'zone-2');
});
