/**
 * The DP server on a real TLS port: POST /bootstrap (registration, statuses, the
 * bootstrap itself), GET /dns/vips, and gRPC ADS on the same port told apart by ALPN.
 * Real peers inside the CP: cp/tokens (TokenIssuer, StoreTokenVerifier) and cp/vips
 * (StoreVipAllocator).
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { silentLogger } from '../../../lib/logger';
import { MemoryStore } from '../../../cp/store/memory-store';
import { XdsServer } from '../../../cp/xds/server/xds-server';
import { DpServer } from '../../../cp/dp-server/dp-server';
import { ensureDpServerTls } from '../../../cp/dp-server/tls-material';
import { StoreTokenVerifier, TokenIssuer } from '../../../cp/tokens/index';
import { dataplaneRevocationsName } from '../../../cp/tokens/names';
import { StoreVipAllocator } from '../../../cp/vips/index';
import { checkBootstrap } from '../../../envoy-bootstrap';
import { TypeUrl } from '../../../proto/index';
import { AdsTestClient } from './ads-test-client';

const DP_YAML = `type: Dataplane
mesh: default
name: web-1
networking:
  address: 127.0.0.2
  inbound:
    - port: 8080
      servicePort: 9080
      tags:
        kuma.io/service: web
`;

async function setup(t: Test) {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-server-'));
  const store = new MemoryStore();
  await store.create({ type: 'Mesh', name: 'default', spec: {} });
  await store.create({ type: 'Mesh', name: 'other', spec: {} });
  const log = silentLogger();
  const verifier = new StoreTokenVerifier(store);
  const issuer = new TokenIssuer({ store });
  const vips = new StoreVipAllocator({ store, debounceMs: 10 });
  await vips.start();
  const xds = new XdsServer({ store, log, cp: { zone: '', vipPort: 80 }, authn: 'dpToken', tokens: verifier, vips });
  await xds.start();
  const token = (mesh: string, name: string, validForMs = 3600_000) => issuer.issueDataplane({ mesh, name, type: 'dataplane', validForMs });
  const tls = ensureDpServerTls({ workDir, log });
  const dp = new DpServer({ port: 0, plaintextPort: 0, host: '127.0.0.1', tls, xds, log, handlers: { store, authn: 'dpToken', tokens: verifier, vips } });
  await dp.start();
  const clients: AdsTestClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    await dp.close();
    await xds.close();
    await vips.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });
  const post = (body: unknown, raw?: string) => request('POST', '/bootstrap', raw ?? JSON.stringify(body));
  const request = (method: string, p: string, body?: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; json: any }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: dp.port, method, path: p, ca: tls.caPem, servername: 'localhost', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const ads = (id: string, token?: string) => {
    const md = new grpc.Metadata();
    if (token) md.set('authorization', token);
    const c = new AdsTestClient(`localhost:${dp.port}`, { id }, false, md, grpc.credentials.createSsl(Buffer.from(tls.caPem)));
    clients.push(c);
    return c;
  };
  const ingressToken = (name: string) => issuer.issueDataplane({ mesh: 'default', name, type: 'ingress', validForMs: 3600_000 });
  return { store, dp, tls, workDir, post, request, ads, clients, token, ingressToken };
}

t.test('POST /bootstrap: statuses and the bootstrap contract', async (t) => {
  const { store, dp, tls, post, token } = await setup(t);
  const tok = await token('default', 'web-1');
  const base = { mesh: 'default', name: 'web-1', proxyType: 'dataplane', dataplaneToken: tok, adminPort: 9901, dnsPort: 15053, version: { kumaDp: { version: '0.1.0' }, envoy: { version: '1.30.1' } } };
  const missing = await post(base);
  t.equal(missing.status, 404, 'unknown Dataplane without dataplaneResource');
  t.match(missing.json.details, /Dataplane "web-1" in mesh "default" not found/);
  t.equal((await post({ ...base, dataplaneToken: undefined, dataplaneResource: DP_YAML })).status, 401, 'no token');
  t.equal((await post({ ...base, dataplaneToken: await token('other', 'web-1'), dataplaneResource: DP_YAML })).status, 403, 'token of another mesh');
  t.equal((await post({ ...base, dataplaneToken: await token('default', 'web-2'), dataplaneResource: DP_YAML })).status, 403, 'token of another dataplane');
  t.equal((await post({ ...base, dataplaneToken: 'garbage', dataplaneResource: DP_YAML })).status, 401);
  t.notOk(await store.get('Dataplane', { mesh: 'default', name: 'web-1' }), 'refused requests registered nothing');
  const bad = await post({ ...base, dataplaneResource: DP_YAML.replace('port: 8080', 'port: 70000') });
  t.equal(bad.status, 422);
  t.match(bad.json.causes, [{ field: /networking\.inbound\[0\]\.port/ }]);
  const wrongName = await post({ ...base, dataplaneResource: DP_YAML.replace('name: web-1', 'name: web-2') });
  t.equal(wrongName.status, 422);
  t.match(wrongName.json.causes, [{ field: 'name' }]);
  t.equal((await post(undefined, '{not json')).status, 400);
  t.equal((await post([1, 2])).status, 400);
  t.equal((await post({ ...base, adminPort: 'x' })).status, 422);
  const ok = await post({ ...base, dataplaneResource: DP_YAML });
  t.equal(ok.status, 200);
  t.ok(await store.get('Dataplane', { mesh: 'default', name: 'web-1' }), 'registered');
  const b = ok.json.bootstrap;
  t.same(checkBootstrap(b), [], 'bootstrap passes Envoy proto and PGV checks');
  t.equal(b.node.id, 'default.web-1');
  t.equal(b.node.cluster, 'web');
  t.equal(b.node.metadata['dataplane.dns.port'], '15053');
  const ads = b.static_resources.clusters[0];
  t.equal(ads.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, dp.port);
  t.equal(ads.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address, '127.0.0.1');
  t.equal(ads.transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.inline_string, tls.caPem);
  t.same(b.dynamic_resources.ads_config.grpc_services[0].initial_metadata, [{ key: 'authorization', value: tok }]);
  t.same(ok.json.kumaSidecarConfiguration.networking, { isUsingTransparentProxy: false, address: '127.0.0.2', corefile: '' });
  // Already registered: no resource needed.
  t.equal((await post(base)).status, 200);
});

t.test('GET /dns/vips', async (t) => {
  const { request, post, token } = await setup(t);
  const tok = await token('default', 'web-1');
  t.equal((await post({ mesh: 'default', name: 'web-1', dataplaneToken: tok, dataplaneResource: DP_YAML })).status, 200);
  let ok = await request('GET', '/dns/vips?mesh=default&name=web-1', undefined, { authorization: `Bearer ${tok}` });
  for (let i = 0; i < 50 && !ok.json.vips?.web; i++) {
    await new Promise((r) => setTimeout(r, 50));
    ok = await request('GET', '/dns/vips?mesh=default&name=web-1', undefined, { authorization: `Bearer ${tok}` });
  }
  t.equal(ok.status, 200);
  t.equal(ok.json.mesh, 'default');
  t.equal(ok.json.ttl, 30);
  t.match(ok.json.vips.web, /^\d+\.\d+\.\d+\.\d+$/, 'the registered service has a VIP');
  t.equal((await request('GET', '/dns/vips?mesh=default&name=web-1')).status, 401);
  t.equal((await request('GET', '/dns/vips?mesh=other&name=web-1', undefined, { authorization: `Bearer ${tok}` })).status, 403, 'another mesh\'s table needs that mesh\'s token');
  t.equal((await request('GET', '/dns/vips?mesh=default', undefined, { authorization: `Bearer ${tok}` })).status, 422);
  t.equal((await request('GET', '/nope')).status, 404);
});

t.test('ADS on the same TLS port (ALPN h2), token checks on the stream', async (t) => {
  const { post, ads, token } = await setup(t);
  const tok = await token('default', 'web-1');
  t.equal((await post({ mesh: 'default', name: 'web-1', dataplaneToken: tok, dataplaneResource: DP_YAML })).status, 200);
  const good = ads('default.web-1', tok);
  good.request(TypeUrl.Listener);
  const l = await good.next(TypeUrl.Listener, 0);
  t.ok(l.names.includes('inbound:127.0.0.2:8080'));
  const foreign = ads('default.web-1', await token('other', 'web-1'));
  foreign.request(TypeUrl.Listener);
  await foreign.done;
  t.equal(foreign.status?.code, grpc.status.PERMISSION_DENIED);
  t.equal(foreign.received.length, 0, 'nothing of the mesh leaked');
  const none = ads('default.web-1');
  none.request(TypeUrl.Listener);
  await none.done;
  t.equal(none.status?.code, grpc.status.UNAUTHENTICATED);
  const expiring = ads('default.web-1', await token('default', 'web-1', 4000));
  expiring.request(TypeUrl.Listener);
  await expiring.next(TypeUrl.Listener, 0);
  await expiring.done;
  t.equal(expiring.status?.code, grpc.status.UNAUTHENTICATED, 'stream closed when the token expires');
  t.match(expiring.status?.details, /expired/);
  t.notOk(good.status, 'the good stream is unaffected');
});

t.test('revoking a token ends its open ADS stream; deleting the Dataplane ends the rest', async (t) => {
  const { post, ads, token, store } = await setup(t);
  const jti = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')).jti as string;
  const revoked = await token('default', 'web-1');
  const kept = await token('default', 'web-1');
  t.equal((await post({ mesh: 'default', name: 'web-1', dataplaneToken: kept, dataplaneResource: DP_YAML })).status, 200);
  const a = ads('default.web-1', revoked);
  const b = ads('default.web-1', kept);
  for (const c of [a, b]) {
    c.request(TypeUrl.Listener);
    await c.next(TypeUrl.Listener, 0);
  }
  const name = dataplaneRevocationsName('default');
  // A revocation list that does not name the stream's token leaves it open.
  await store.create({ type: 'Secret', mesh: 'default', name, spec: { data: Buffer.from('some-other-id').toString('base64') } });
  await new Promise((r) => setTimeout(r, 200));
  t.notOk(a.status, 'unrelated revocation: stream stays open');
  const started = Date.now();
  await store.update({ type: 'Secret', mesh: 'default', name, spec: { data: Buffer.from(`some-other-id\n${jti(revoked)}`).toString('base64') } });
  await Promise.race([a.done, new Promise((r) => setTimeout(r, 5000))]);
  t.equal(a.status?.code, grpc.status.UNAUTHENTICATED, 'revoked token: stream ended');
  t.match(a.status?.details, new RegExp(`token ${jti(revoked)} has been revoked`));
  t.ok(Date.now() - started < 2000, `ended promptly (${Date.now() - started} ms)`);
  t.notOk(b.status, 'the stream of a token that is not revoked stays open');
  const again = ads('default.web-1', revoked);
  again.request(TypeUrl.Listener);
  await again.done;
  t.equal(again.status?.code, grpc.status.UNAUTHENTICATED, 'reconnect with the revoked token refused');
  await store.delete('Dataplane', { mesh: 'default', name: 'web-1' });
  await Promise.race([b.done, new Promise((r) => setTimeout(r, 5000))]);
  t.equal(b.status?.code, grpc.status.NOT_FOUND, 'deleted Dataplane: stream ended');
  t.match(b.status?.details, /Dataplane "web-1" was deleted/);
  const gone = ads('default.web-1', kept);
  gone.request(TypeUrl.Listener);
  await gone.done;
  t.equal(gone.status?.code, grpc.status.NOT_FOUND, 'reconnect refused until the Dataplane registers again');
});

t.test('a zone ingress registers through /bootstrap and gets its SNI listener over ADS', async (t) => {
  const { post, ads, token, ingressToken, store } = await setup(t);
  await store.create({ type: 'Dataplane', mesh: 'default', name: 'billing-1', spec: { networking: { address: '127.0.0.5', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'billing' } }] } } });
  const ZI = 'type: ZoneIngress\nname: ingress-1\nnetworking:\n  address: 127.0.0.9\n  port: 10001\n  advertisedAddress: 127.0.0.9\n  advertisedPort: 10001\n';
  const tok = await ingressToken('ingress-1');
  t.equal((await post({ name: 'ingress-1', proxyType: 'ingress', dataplaneToken: await token('default', 'ingress-1'), dataplaneResource: ZI })).status, 403, 'a dataplane token is not an ingress token');
  const ok = await post({ name: 'ingress-1', proxyType: 'ingress', dataplaneToken: tok, dataplaneResource: ZI });
  t.equal(ok.status, 200, JSON.stringify(ok.json).slice(0, 300));
  t.equal(ok.json.bootstrap.node.id, '.ingress-1');
  t.equal(ok.json.bootstrap.node.metadata['dataplane.proxyType'], 'ingress');
  t.ok(await store.get('ZoneIngress', { name: 'ingress-1' }), 'registered');
  const c = ads('.ingress-1', tok);
  c.request(TypeUrl.Listener);
  const l = await c.next(TypeUrl.Listener, 0);
  t.same(l.names, ['inbound:127.0.0.9:10001']);
  t.same(l.resources[0].filter_chains.map((fc: any) => fc.filter_chain_match.server_names[0]), ['billing{mesh=default}']);
  t.same(c.violations, []);
  // An ingress stream has no mesh of its own, but its token's mesh lists its revocation.
  const jti = JSON.parse(Buffer.from(tok.split('.')[1], 'base64url').toString('utf8')).jti as string;
  await store.create({ type: 'Secret', mesh: 'default', name: dataplaneRevocationsName('default'), spec: { data: Buffer.from(jti).toString('base64') } });
  await Promise.race([c.done, new Promise((r) => setTimeout(r, 5000))]);
  t.equal(c.status?.code, grpc.status.UNAUTHENTICATED, 'revoked ingress token: the open ADS stream ended');
  t.match(c.status?.details, new RegExp(`token ${jti} has been revoked`));
});

t.test('generated TLS files are reused across restarts', async (t) => {
  const { workDir, tls } = await setup(t);
  const again = ensureDpServerTls({ workDir, log: silentLogger() });
  t.equal(again.caPem, tls.caPem);
  t.equal(again.certPem, tls.certPem);
  t.equal((fs.statSync(again.keyFile).mode & 0o777).toString(8), '600');
});
