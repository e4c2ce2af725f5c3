/**
 * gRPC through two embedded engines: a real @grpc/grpc-js client calls a real
 * @grpc/grpc-js server over the sidecars (h2c from the client to its sidecar, HTTP/2 over
 * mTLS between the sidecars, h2c to the server), with the clusters marked HTTP/2 the way
 * Kuma marks grpc services. Status codes travel in trailers and must arrive intact; an
 * HTTP/1.1 client reaches the same HTTP/2 service through the bridge.
 */
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { T } from './harness/ads-server';
import { createCa, identity } from './harness/pki';
import * as R from './harness/resources';
import { request, until } from './harness/apps';
import { startAdsServer, startEngine } from './harness/engine';
import { ExtensionTypeUrl } from '../../../proto/index';

const MESH = 'default';
const H2 = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': ExtensionTypeUrl.HttpProtocolOptions, explicit_http_config: { http2_protocol_options: {} } } };
const raw = (b: Buffer) => b;
const SERVICE: grpc.ServiceDefinition = {
  Echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw, originalName: 'Echo' },
  Chat: { path: '/test.Echo/Chat', requestStream: true, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw, originalName: 'Chat' },
} as any;

t.test('gRPC over the mesh', async (t) => {
  const server = new grpc.Server();
  server.addService(SERVICE, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const s = call.request.toString();
      if (s === 'fail') return cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
      const md = new grpc.Metadata();
      md.set('x-trailer', 'kept');
      cb(null, Buffer.from(`echo:${s}`), md);
    },
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => call.write(Buffer.from(`chat:${b}`)));
      call.on('end', () => call.end());
    },
  });
  const appPort = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  t.teardown(() => server.forceShutdown());

  const ca = createCa(MESH);
  const { ads, cpCa } = await startAdsServer(t);

  const web = await startEngine(t, { mesh: MESH, name: 'greeter', adsPort: ads.port, adsCaPem: cpCa.certPem });
  const local = { ...R.localCluster(appPort), typed_extension_protocol_options: H2 };
  ads.set(`${MESH}.greeter`, T.Secret, R.secrets(identity(ca, MESH, 'greeter'), ca.certPem));
  ads.set(`${MESH}.greeter`, T.Cluster, [local]);
  ads.set(`${MESH}.greeter`, T.Listener, [R.inboundListener('inbound:greeter', 0, MESH, [`spiffe://${MESH}/frontend`], R.hcm('greeter', { cluster: local.name }))]);
  await until(() => web.isReady(), 'greeter ready');

  const fe = await startEngine(t, { mesh: MESH, name: 'frontend', adsPort: ads.port, adsCaPem: cpCa.certPem });
  ads.set(`${MESH}.frontend`, T.Secret, R.secrets(identity(ca, MESH, 'frontend'), ca.certPem));
  ads.set(`${MESH}.frontend`, T.Cluster, [{ ...R.meshCluster('greeter', MESH, 'greeter', 'greeter{mesh=default}'), typed_extension_protocol_options: H2 }]);
  ads.set(`${MESH}.frontend`, T.ClusterLoadAssignment, [R.assignment('greeter', [{ port: web.listenerPort('inbound:greeter')! }])]);
  ads.set(`${MESH}.frontend`, T.RouteConfiguration, [R.routeConfig('outbound:greeter', [{ match: { prefix: '/' }, cluster: 'greeter' }])]);
  ads.set(`${MESH}.frontend`, T.Listener, [R.outboundListener('outbound:greeter', 0, R.hcm('out', { rds: 'outbound:greeter' }))]);
  await until(() => fe.isReady(), 'frontend ready');
  const out = fe.listenerPort('outbound:greeter')!;
  t.same(ads.nacks(), [], 'HTTP/2 clusters accepted');

  const Client = grpc.makeGenericClientConstructor(SERVICE, 'Echo');
  const client = new Client(`127.0.0.1:${out}`, grpc.credentials.createInsecure()) as any;
  t.teardown(() => client.close());

  t.test('unary calls, status codes and trailing metadata pass through', async (t) => {
    for (let i = 0; i < 20; i++) {
      const { value, trailer } = await new Promise<{ value: Buffer; trailer: grpc.Metadata }>((resolve, reject) => {
        let trailer = new grpc.Metadata();
        const call = client.Echo(Buffer.from(`hi-${i}`), (err: grpc.ServiceError | null, v: Buffer) => (err ? reject(err) : setImmediate(() => resolve({ value: v, trailer }))));
        call.on('status', (s: grpc.StatusObject) => (trailer = s.metadata));
      });
      t.equal(value.toString(), `echo:hi-${i}`);
      if (i === 0) t.same(trailer.get('x-trailer'), ['kept'], 'trailing metadata arrives');
    }
    const err = await new Promise<grpc.ServiceError>((resolve) => client.Echo(Buffer.from('fail'), (e: grpc.ServiceError) => resolve(e)));
    t.equal(err.code, grpc.status.NOT_FOUND, 'grpc-status from the server (trailers-only response)');
    t.equal(err.details, 'no such thing');
  });

  t.test('bidirectional streaming', async (t) => {
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.Chat();
      call.on('data', (b: Buffer) => got.push(b.toString()));
      call.on('error', reject);
      call.on('end', () => resolve());
      for (let i = 0; i < 5; i++) call.write(Buffer.from(`m${i}`));
      call.end();
    });
    t.same(got, ['chat:m0', 'chat:m1', 'chat:m2', 'chat:m3', 'chat:m4']);
  });

  t.test('an HTTP/1.1 request reaches the HTTP/2 service through the bridge', async (t) => {
    const r = await request(out, { path: '/test.Echo/Echo', method: 'POST', headers: { 'content-type': 'application/grpc', te: 'trailers' }, body: '\u0000\u0000\u0000\u0000\u0002ab' });
    t.equal(r.status, 200, 'answered over HTTP/1.1');
    t.match(r.body, 'echo:ab', 'gRPC frame came back');
  });
});
