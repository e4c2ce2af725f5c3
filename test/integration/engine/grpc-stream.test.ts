/**
 * The embedded engine's gRPC client (agent/engine/embedded/xds-client/grpc-stream.ts)
 * against @grpc/grpc-js servers, the peer nobody here wrote: messages both ways, request
 * metadata, statuses (trailers-only and after messages, details percent-decoded), TLS
 * verified against a CA and a server name (and refused for the wrong name), a server that
 * is not there, a cancel, and a reconnect after the connection is lost.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import forge from 'node-forge';
import { GrpcChannel, GrpcStatus, type ClientStream, type GrpcStatusEvent } from '../../../agent/engine/embedded/xds-client/grpc-stream';

const PATH = '/test.Echo/Chat';
const identity = (b: Buffer) => b;
const SERVICE = { Chat: { path: PATH, requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } };

/** A grpc-js server whose Chat echoes, except `status:<code>:<details>` which ends the call with that status. */
async function server(t: any, creds = grpc.ServerCredentials.createInsecure(), bindPort = 0): Promise<{ port: number; server: grpc.Server; seen: grpc.Metadata[] }> {
  const s = new grpc.Server();
  const seen: grpc.Metadata[] = [];
  s.addService(SERVICE as any, {
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      seen.push(call.metadata);
      call.on('data', (m: Buffer) => {
        const text = m.toString();
        const st = /^status:(\d+):(.*)$/s.exec(text);
        if (st) call.emit('error', { code: Number(st[1]), details: st[2] });
        else call.write(m);
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) => s.bindAsync(`127.0.0.1:${bindPort}`, creds, (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => s.forceShutdown());
  return { port, server: s, seen };
}

function open(ch: GrpcChannel, md: Record<string, string> = {}): { stream: ClientStream; messages: Buffer[]; status: Promise<GrpcStatusEvent> } {
  const stream = ch.openStream(PATH, md, (m) => m as Buffer, (b) => Buffer.from(b));
  const messages: Buffer[] = [];
  stream.on('data', (m: Buffer) => messages.push(m));
  const status = new Promise<GrpcStatusEvent>((r) => stream.once('status', r));
  return { stream, messages, status };
}

const until = async (fn: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!fn() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return fn();
};

t.test('messages both ways, metadata, a status after messages and a trailers-only one', async (t) => {
  const { port, seen } = await server(t);
  const ch = new GrpcChannel({ host: '127.0.0.1', port });
  t.teardown(() => ch.close());
  const a = open(ch, { authorization: 'Bearer tok-9' });
  const sent = [Buffer.from('one'), Buffer.alloc(70_000, 3), Buffer.from('three')];
  for (const m of sent) a.stream.write(m);
  t.ok(await until(() => a.messages.length === 3), 'echoes arrive');
  t.same(a.messages.map((m) => m.toString('hex')), sent.map((m) => m.toString('hex')), 'byte for byte, in order');
  a.stream.write(Buffer.from('status:16:token expired: 100% ✗'));
  const st = await a.status;
  t.same(st, { code: 16, details: 'token expired: 100% ✗' }, 'UNAUTHENTICATED with its details decoded');
  t.equal(seen[0].get('authorization')[0], 'Bearer tok-9', 'metadata sent as headers');
  const b = open(ch);
  b.stream.write(Buffer.from('status:7:no'));
  t.same(await b.status, { code: 7, details: 'no' }, 'a status before any message (trailers-only)');
});

t.test('TLS: verified against the CA and the server name; the wrong name is refused', async (t) => {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3_600_000);
  const name = [{ name: 'commonName', value: 'cp.test' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([{ name: 'basicConstraints', cA: true }, { name: 'subjectAltName', altNames: [{ type: 2, value: 'cp.test' }] }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  const keyPem = forge.pki.privateKeyToPem(keys.privateKey);
  const { port } = await server(t, grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(certPem), private_key: Buffer.from(keyPem) }]));
  const good = new GrpcChannel({ host: '127.0.0.1', port, tls: { caPem: certPem }, serverName: 'cp.test' });
  t.teardown(() => good.close());
  const a = open(good);
  a.stream.write(Buffer.from('hello'));
  t.ok(await until(() => a.messages.length === 1), 'echo over TLS with the right name');
  const bad = new GrpcChannel({ host: '127.0.0.1', port, tls: { caPem: certPem }, serverName: 'other.test' });
  t.teardown(() => bad.close());
  const b = open(bad);
  const st = await b.status;
  t.equal(st.code, GrpcStatus.UNAVAILABLE);
  t.match(st.details, /connection lost: .*(other\.test|altnames)/i, 'the certificate does not match the name');
  const noCa = new GrpcChannel({ host: '127.0.0.1', port, tls: {}, serverName: 'cp.test' });
  t.teardown(() => noCa.close());
  t.match((await open(noCa).status).details, /self.signed|unable to verify|certificate/i, 'an unknown CA is refused');
});

t.test('nobody listening: UNAVAILABLE; a cancel: CANCELLED; a lost connection: a new one next time', async (t) => {
  const ch0 = new GrpcChannel({ host: '127.0.0.1', port: 9 });
  t.teardown(() => ch0.close());
  const st0 = await open(ch0).status;
  t.equal(st0.code, GrpcStatus.UNAVAILABLE);
  t.match(st0.details, /ECONNREFUSED/);

  const { port, server: s } = await server(t);
  const ch = new GrpcChannel({ host: '127.0.0.1', port });
  t.teardown(() => ch.close());
  const a = open(ch);
  a.stream.write(Buffer.from('x'));
  t.ok(await until(() => a.messages.length === 1));
  a.stream.cancel();
  t.equal((await a.status).code, GrpcStatus.CANCELLED);

  const b = open(ch);
  b.stream.write(Buffer.from('y'));
  t.ok(await until(() => b.messages.length === 1));
  s.forceShutdown(); // the connection goes away under an open stream
  const st = await b.status;
  t.not(st.code, GrpcStatus.OK, `the open stream ends (${st.code}: ${st.details})`);
  await server(t, grpc.ServerCredentials.createInsecure(), port); // back on the same port
  const c = open(ch);
  c.stream.write(Buffer.from('z'));
  t.ok(await until(() => c.messages.length === 1), 'the same channel connects again');
});
