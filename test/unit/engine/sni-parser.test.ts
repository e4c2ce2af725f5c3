/**
 * The ClientHello SNI parser on real ClientHellos (captured from Node's TLS client and
 * from `openssl s_client`), split into every record and TCP fragmentation we can
 * think of, plus truncations and random garbage: it must never throw.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { parseClientHelloSni, MAX_CLIENT_HELLO_BYTES } from '../../../agent/engine/embedded/ingress/sni-parser';

/** Captures the first bytes a client sends to a listening socket. */
async function capture(connect: (port: number) => () => void): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let stop: () => void = () => undefined;
  const server = net.createServer((s) => {
    s.on('data', (d) => {
      chunks.push(d);
      const r = parseClientHelloSni(Buffer.concat(chunks));
      if (r.status !== 'need-more') s.destroy();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      stop();
      server.close();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => {
    server.on('close', () => resolve());
    stop = connect(port);
  });
  return Buffer.concat(chunks);
}

function nodeHello(servername?: string): Promise<Buffer> {
  return capture((port) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
    s.on('error', () => undefined);
    return () => s.destroy();
  });
}

/** Re-frames a single-record ClientHello into records of at most `size` bytes of payload. */
function refragment(hello: Buffer, size: number): Buffer {
  const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) {
    const part = body.subarray(i, i + size);
    const h = Buffer.from([22, 3, 1, 0, 0]);
    h.writeUInt16BE(part.length, 3);
    out.push(h, part);
  }
  return Buffer.concat(out);
}

t.test('real ClientHellos', async (t) => {
  const sni = 'billing{kuma.io/zone=zone-2,mesh=default}';
  const hello = await nodeHello(sni);
  t.same(parseClientHelloSni(hello), { status: 'ok', serverName: sni }, 'node client');
  const none = await nodeHello(undefined);
  t.same(parseClientHelloSni(none), { status: 'ok' }, 'no SNI (node does not send one for IP hosts)');
  const ossl = await capture((port) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'web{mesh=default}'], { stdio: ['pipe', 'ignore', 'ignore'] });
    return () => p.kill('SIGKILL');
  });
  t.same(parseClientHelloSni(ossl), { status: 'ok', serverName: 'web{mesh=default}' }, 'openssl s_client');

  t.test('every TCP split point of the stream', async (t) => {
    let bad = 0;
    for (let i = 1; i < hello.length; i++) {
      if (parseClientHelloSni(hello.subarray(0, i)).status !== 'need-more') bad++;
    }
    t.equal(bad, 0, 'every proper prefix asks for more');
  });
  t.test('handshake split across records', async (t) => {
    for (const size of [1, 2, 3, 7, 64, 100, 511]) {
      const f = refragment(hello, size);
      t.same(parseClientHelloSni(f), { status: 'ok', serverName: sni }, `records of ${size} bytes`);
      t.equal(parseClientHelloSni(f.subarray(0, f.length - 1)).status, 'need-more', `truncated ${size}-byte framing asks for more`);
    }
  });
});

t.test('garbage is refused, never thrown', async (t) => {
  t.equal(parseClientHelloSni(Buffer.from('GET / HTTP/1.1\r\n\r\n')).status, 'not-tls');
  t.equal(parseClientHelloSni(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0])).status, 'not-tls', 'ServerHello is not a ClientHello');
  t.equal(parseClientHelloSni(Buffer.from([22, 3, 1, 0, 0])).status, 'not-tls', 'zero-length record');
  t.equal(parseClientHelloSni(Buffer.from([22, 3, 1, 0, 8, 1, 0xff, 0xff, 0xff, 0, 0, 0, 0])).status, 'not-tls', 'absurd handshake length');
  t.equal(parseClientHelloSni(Buffer.alloc(0)).status, 'need-more');
  // A hello whose lengths lie: claim a long session id.
  const hello = await nodeHello('x');
  const lie = Buffer.from(hello);
  lie[5 + 4 + 2 + 32] = 0xff;
  t.equal(parseClientHelloSni(lie).status, 'not-tls', 'lying session id length');
  // Fuzz: random mutations of a real hello and random bytes.
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  let threw = 0;
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.from(hello);
    for (let k = 0; k < 1 + Math.floor(rnd() * 8); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    const cut = b.subarray(0, Math.floor(rnd() * b.length) + 1);
    const junk = Buffer.from(Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)));
    for (const x of [b, cut, junk]) {
      try {
        const r = parseClientHelloSni(x);
        if (!['ok', 'need-more', 'not-tls'].includes(r.status)) threw++;
      } catch {
        threw++;
      }
    }
  }
  t.equal(threw, 0, 'no exception over 15000 hostile inputs');
  t.equal(parseClientHelloSni(Buffer.concat([Buffer.from([22, 3, 1, 0x40, 0]), Buffer.alloc(MAX_CLIENT_HELLO_BYTES + 10)])).status, 'not-tls', 'oversized input refused');
});
