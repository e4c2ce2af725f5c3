/**
 * The CP's gRPC server on node:http2 (cp/xds/server/grpc-h2.ts) against @grpc/grpc-js as
 * the client nobody here wrote: messages both ways across frame boundaries, metadata,
 * statuses with and without messages sent first (trailers-only), percent-encoded status
 * details, unknown methods, a request over the size limit, a compressed request, the
 * client cancelling or half-closing, a request that is not gRPC, keepalive on a peer that
 * stopped answering, and close with calls open.
 */
import t from 'tap';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { GrpcH2Server, type ServerStreamCall } from '../../../cp/xds/server/grpc-h2';
import { frame } from '../../../lib/grpc-framing';
import { silentLogger } from '../../../lib/logger';

const PATH = '/test.Echo/Chat';
const identity = (b: Buffer) => b;
const Client = grpc.makeGenericClientConstructor(
  { Chat: { path: PATH, requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
  'Echo',
);

/** A server whose one method hands each call to `onCall`. */
async function serve(t: any, onCall: (call: ServerStreamCall) => void, o: { maxReceiveMessageBytes?: number; keepaliveTimeMs?: number; keepaliveTimeoutMs?: number } = {}) {
  const server = new GrpcH2Server({ methods: { [PATH]: { deserialize: (b) => Buffer.from(b), handler: onCall } }, log: silentLogger(), ...o });
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.destroy());
  return { server, port };
}

function client(t: any, port: number, options: grpc.ChannelOptions = {}): grpc.Client & { Chat: (md?: grpc.Metadata) => grpc.ClientDuplexStream<Buffer, Buffer> } {
  const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options) as any;
  t.teardown(() => c.close());
  return c;
}

/** Everything a client call sees until it ends: messages and the final status. */
function collect(call: grpc.ClientDuplexStream<Buffer, Buffer>): Promise<{ messages: Buffer[]; status: grpc.StatusObject }> {
  const messages: Buffer[] = [];
  return new Promise((resolve) => {
    call.on('data', (m: Buffer) => messages.push(m));
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => resolve({ messages, status }));
  });
}

t.test('echo: messages both ways across frame boundaries, metadata, OK after half-close', async (t) => {
  let seenMetadata: grpc.Metadata | undefined;
  let peer = '';
  const { port } = await serve(t, (call) => {
    seenMetadata = call.metadata;
    peer = call.getPeer();
    call.on('data', (m: Buffer) => call.writeFrame(frame(m)));
  });
  const md = new grpc.Metadata();
  md.set('authorization', 'Bearer tok-1');
  md.set('trace-bin', Buffer.from([0, 1, 2, 255]));
  const call = client(t, port).Chat(md);
  const done = collect(call);
  const sent = [Buffer.from('a'), Buffer.alloc(100_000, 7), Buffer.alloc(0), ...Array.from({ length: 50 }, (_, i) => Buffer.from(`m${i}`))];
  for (const m of sent) call.write(m);
  call.end();
  const { messages, status } = await done;
  t.equal(status.code, grpc.status.OK, 'half-close: the server ends with OK');
  t.same(messages.map((m) => m.toString('hex')), sent.map((m) => m.toString('hex')), 'every message echoed, in order, byte for byte');
  t.equal(seenMetadata?.get('authorization')[0], 'Bearer tok-1');
  t.same(seenMetadata?.get('trace-bin')[0], Buffer.from([0, 1, 2, 255]), '-bin metadata decoded');
  t.match(peer, /^127\.0\.0\.1:\d+$/);
});

t.test('statuses: trailers-only, after messages, details percent-encoded and decoded by the client', async (t) => {
  const { port } = await serve(t, (call) => {
    call.on('data', (m: Buffer) => {
      const cmd = m.toString();
      if (cmd === 'deny') call.end(grpc.status.PERMISSION_DENIED, 'token for mesh "a" used for mesh b: 100% wrong ✗\nsecond line');
      else {
        call.writeFrame(frame(Buffer.from('before')));
        call.end(grpc.status.UNAUTHENTICATED, 'dataplane token expired');
        call.writeFrame(frame(Buffer.from('after'))); // dropped
        call.end(grpc.status.INTERNAL, 'ignored'); // idempotent
      }
    });
  });
  const c = client(t, port);
  const a = c.Chat();
  const da = collect(a);
  a.write(Buffer.from('deny'));
  const ra = await da;
  t.equal(ra.status.code, grpc.status.PERMISSION_DENIED);
  t.equal(ra.status.details, 'token for mesh "a" used for mesh b: 100% wrong ✗\nsecond line', 'details round-trip');
  t.same(ra.messages, []);
  const b = c.Chat();
  const db = collect(b);
  b.write(Buffer.from('late'));
  const rb = await db;
  t.equal(rb.status.code, grpc.status.UNAUTHENTICATED);
  t.equal(rb.status.details, 'dataplane token expired');
  t.same(rb.messages.map(String), ['before'], 'messages before the status arrive; none after');
});

t.test('unknown method: UNIMPLEMENTED naming it', async (t) => {
  const { port } = await serve(t, () => undefined);
  const Other = grpc.makeGenericClientConstructor(
    { Nope: { path: '/test.Echo/Nope', requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
    'Echo',
  );
  const c = new Other(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as any;
  t.teardown(() => c.close());
  const r = await collect(c.Nope());
  t.equal(r.status.code, grpc.status.UNIMPLEMENTED);
  t.match(r.status.details, /method \/test\.Echo\/Nope is not served here/);
});

t.test('a request over the size limit: RESOURCE_EXHAUSTED; a compressed one: UNIMPLEMENTED', async (t) => {
  let received = 0;
  const { port } = await serve(t, (call) => call.on('data', () => received++), { maxReceiveMessageBytes: 1000 });
  const big = client(t, port).Chat();
  const rb = collect(big);
  big.write(Buffer.alloc(1001));
  t.equal((await rb).status.code, grpc.status.RESOURCE_EXHAUSTED);
  t.match((await rb).status.details, /1001 bytes exceeds the limit of 1000/);
  // grpc-js compresses requests when the channel asks for it (1 = deflate).
  const gz = client(t, port, { 'grpc.default_compression_algorithm': 1 }).Chat();
  const rg = collect(gz);
  gz.write(Buffer.alloc(500, 1));
  const r = await rg;
  t.equal(r.status.code, grpc.status.UNIMPLEMENTED);
  t.match(r.status.details, /compressed request messages are not supported/);
  t.equal(received, 0, 'neither reached the handler');
});

t.test('the client cancels: the call closes on the server', async (t) => {
  let closed!: () => void;
  const closedP = new Promise<void>((r) => (closed = r));
  let ended = false;
  const { port } = await serve(t, (call) => {
    call.on('end', () => (ended = true));
    call.on('close', () => closed());
    call.on('data', (m: Buffer) => call.writeFrame(frame(m)));
  });
  const call = client(t, port).Chat();
  const done = collect(call);
  call.write(Buffer.from('x'));
  await new Promise((r) => call.once('data', r));
  call.cancel();
  await closedP;
  t.equal(ended, false, 'a cancel is not a half-close');
  t.equal((await done).status.code, grpc.status.CANCELLED);
});

t.test('not gRPC: 415 with a reason', async (t) => {
  const { port } = await serve(t, () => undefined);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.teardown(() => session.close());
  const req = session.request({ ':method': 'GET', ':path': PATH });
  let body = '';
  const status = await new Promise<number>((resolve) => {
    req.on('response', (h) => resolve(Number(h[':status'])));
  });
  req.setEncoding('utf8');
  req.on('data', (d) => (body += d));
  await new Promise((r) => req.on('end', r));
  t.equal(status, 415);
  t.match(body, /gRPC only: POST with content-type application\/grpc \(got GET no content-type\)/);
});

t.test('keepalive: a peer that stops answering pings is disconnected', async (t) => {
  // A raw HTTP/2 client: the preface and SETTINGS, then silence (no SETTINGS or PING ACK).
  const silentPeer = async (port: number) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => undefined);
    sock.on('data', () => undefined);
    await new Promise((r) => sock.once('connect', r));
    sock.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
    return sock;
  };
  const withKeepalive = await serve(t, () => undefined, { keepaliveTimeMs: 100, keepaliveTimeoutMs: 200 });
  const a = await silentPeer(withKeepalive.port);
  const closedAt = await new Promise<number>((resolve) => {
    const t0 = Date.now();
    a.once('close', () => resolve(Date.now() - t0));
    setTimeout(() => resolve(-1), 5000);
  });
  t.ok(closedAt > 0, `the silent peer was disconnected (${closedAt} ms)`);
  const without = await serve(t, () => undefined, { keepaliveTimeMs: 0 });
  const b = await silentPeer(without.port);
  t.teardown(() => b.destroy());
  const stillOpen = await new Promise<boolean>((resolve) => {
    b.once('close', () => resolve(false));
    setTimeout(() => resolve(true), 800);
  });
  t.ok(stillOpen, 'without keepalive the same peer stays connected (the ping is what closed it)');
});

t.test('close: GOAWAY, open calls end, new connections are refused', async (t) => {
  const server = new GrpcH2Server({ methods: { [PATH]: { deserialize: (b) => b, handler: (call) => call.on('data', (m: Buffer) => call.writeFrame(frame(m))) } }, log: silentLogger() });
  const port = await server.listen('127.0.0.1', 0);
  const c = client(t, port);
  const call = c.Chat();
  const done = collect(call);
  call.write(Buffer.from('hi'));
  await new Promise((r) => call.once('data', r));
  await server.close(300);
  const r = await done;
  t.not(r.status.code, grpc.status.OK, `the open call ended (${grpc.status[r.status.code]})`);
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('error', () => resolve(true));
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
  });
  t.ok(refused, 'the port no longer accepts');
});
