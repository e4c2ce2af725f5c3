/**
 * The least a Node process can do on one side of the proxy path (bench/proxy-path's
 * floor): relay bytes between a plain socket and a mutual-TLS socket, one upstream
 * connection per downstream connection, with no HTTP parsing, routing or pooling. Any
 * Node engine built on net/tls streams does at least this much per request, so its CPU
 * per request bounds what the embedded engine can reach without native I/O.
 *
 *   node node-relay.js outbound <upstreamPort> <certDir>   plain in, TLS out (client cert, verifies `backend`)
 *   node node-relay.js inbound  <upstreamPort> <certDir>   TLS in (client cert required), plain out
 *
 * Listens on an ephemeral loopback port and prints `{"msg":"relay ready","port":N}`.
 * Certificates: certDir/{ca,client,server}.{crt,key} as bench/proxy-path makes them.
 * Reads on the outgoing (client) side use `onread` with one reused buffer per
 * connection, the cheapest read path net/tls offer; the accepted side cannot.
 *
 * RELAY_RAW=1 (a diagnosis experiment, not a floor): once both sockets are connected,
 * their native handles are driven directly, past net/tls's JavaScript streams: the read
 * callback of each handle writes the bytes to the other handle with a bare WriteWrap,
 * no Readable, Writable, events or ticks, and no backpressure. This needs
 * `process.binding('stream_wrap')`, a deprecated window into Node's internals, and so
 * measures what leaving the public net/tls API would buy, not something the engine does.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

const [mode, upstreamArg, certDir] = process.argv.slice(2);
const upstreamPort = Number(upstreamArg);
if ((mode !== 'outbound' && mode !== 'inbound') || !Number.isInteger(upstreamPort) || !certDir) {
  process.stderr.write('usage: node-relay.js outbound|inbound <upstreamPort> <certDir>\n');
  process.exit(2);
}
const pem = (f: string) => fs.readFileSync(path.join(certDir, f));
const READ_BUFFER = 64 * 1024;

/** Writes `chunk` to `to`, pausing `from` until `to` drains. */
function relay(to: net.Socket, from: net.Socket, chunk: Buffer): void {
  if (!to.write(chunk)) {
    from.pause();
    to.once('drain', () => from.resume());
  }
}

/** Node's stream internals (RELAY_RAW only). */
interface StreamWrapBinding {
  WriteWrap: new () => { handle: unknown; oncomplete: (status: number) => void; async: boolean; buffer?: Uint8Array };
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}
interface RawHandle {
  onread: (this: RawHandle, ab: ArrayBuffer | undefined) => void;
  readStart(): number;
  writeBuffer(req: object, data: Uint8Array): number;
}

/** Relays between the native handles of two connected sockets (RELAY_RAW). */
function rawRelay(a: net.Socket, b: net.Socket): void {
  const sw = (process as unknown as { binding(name: string): StreamWrapBinding }).binding('stream_wrap');
  const state = sw.streamBaseState;
  const ha = (a as unknown as { _handle: RawHandle })._handle;
  const hb = (b as unknown as { _handle: RawHandle })._handle;
  const close = () => {
    a.destroy();
    b.destroy();
  };
  // One side closed before the other connected.
  if (!ha || !hb) return close();
  // A TLS handle takes one write at a time (Node asserts it): later bytes wait for the
  // one in flight. No backpressure on the reading side: enough for request/response.
  const queues = new Map<RawHandle, { busy: boolean; waiting: Uint8Array[] }>([
    [ha, { busy: false, waiting: [] }],
    [hb, { busy: false, waiting: [] }],
  ]);
  const write = (h: RawHandle, data: Uint8Array): void => {
    const q = queues.get(h)!;
    if (q.busy) return void q.waiting.push(data);
    const req = new sw.WriteWrap();
    req.handle = h;
    req.async = false;
    req.oncomplete = (status: number) => {
      if (status < 0) return close();
      q.busy = false;
      const next = q.waiting.length ? Buffer.concat(q.waiting) : undefined;
      q.waiting = [];
      if (next) write(h, next);
    };
    if (h.writeBuffer(req, data) !== 0) return close();
    // Still queued: the request keeps the bytes alive until it completes.
    if (state[sw.kLastWriteWasAsync]) {
      req.buffer = data;
      q.busy = true;
    }
  };
  const reader = (to: RawHandle) =>
    function (this: RawHandle, ab: ArrayBuffer | undefined) {
      const n = state[sw.kReadBytesOrError];
      if (n > 0 && ab) write(to, new Uint8Array(ab, state[sw.kArrayBufferOffset], n));
      else if (n < 0) close();
    };
  ha.onread = reader(hb);
  hb.onread = reader(ha);
  // What the streams read before the switch.
  for (const [s, to] of [
    [a, hb],
    [b, ha],
  ] as const) {
    for (let c: Buffer | null; (c = s.read() as Buffer | null) !== null; ) write(to, c);
  }
  ha.readStart();
  hb.readStart();
}

function pair(down: net.Socket): void {
  down.setNoDelay(true);
  if (process.env.RELAY_RAW) return rawPair(down);
  let up: net.Socket;
  // The reused read buffer is handed to write() as it is. A write that is still queued
  // afterwards keeps a reference to it, so the next read then gets a fresh buffer.
  let readBuf = Buffer.allocUnsafe(READ_BUFFER);
  let retained = false;
  const onread = {
    buffer: () => (retained ? (readBuf = Buffer.allocUnsafe(READ_BUFFER)) : readBuf),
    callback: (n: number, buf: Buffer) => {
      relay(down, up, buf.subarray(0, n));
      retained = down.writableLength > 0;
      return true;
    },
  };
  // RELAY_DATA=1: read the outgoing side with 'data' events too (to compare the two read paths).
  const ro = process.env.RELAY_DATA ? {} : { onread };
  if (mode === 'outbound') {
    up = tls.connect({ port: upstreamPort, host: '127.0.0.1', ca, cert: clientCert, key: clientKey, servername: 'backend', ...ro } as tls.ConnectionOptions);
  } else {
    up = net.connect({ port: upstreamPort, host: '127.0.0.1', ...ro });
  }
  if (process.env.RELAY_DATA) up.on('data', (d: Buffer) => relay(down, up, d));
  up.setNoDelay(true);
  down.on('data', (d: Buffer) => relay(up, down, d));
  down.on('end', () => up.end());
  up.on('end', () => down.end());
  const close = () => {
    down.destroy();
    up.destroy();
  };
  down.on('error', close);
  up.on('error', close);
  down.on('close', close);
  up.on('close', close);
}

/** RELAY_RAW: streams until the upstream is connected, then the handles directly. */
function rawPair(down: net.Socket): void {
  down.pause();
  const up =
    mode === 'outbound'
      ? tls.connect({ port: upstreamPort, host: '127.0.0.1', ca, cert: clientCert, key: clientKey, servername: 'backend' })
      : net.connect({ port: upstreamPort, host: '127.0.0.1' });
  up.setNoDelay(true);
  up.once(mode === 'outbound' ? 'secureConnect' : 'connect', () => rawRelay(down, up));
  const close = () => {
    down.destroy();
    up.destroy();
  };
  down.on('error', close);
  up.on('error', close);
}

const ca = pem('ca.crt');
const clientCert = pem('client.crt');
const clientKey = pem('client.key');
const server =
  mode === 'outbound'
    ? net.createServer(pair)
    : tls.createServer({ ca, cert: pem('server.crt'), key: pem('server.key'), requestCert: true, rejectUnauthorized: true }, pair);
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(JSON.stringify({ msg: 'relay ready', port: typeof a === 'object' && a ? a.port : 0 }) + '\n');
});
process.once('SIGTERM', () => process.exit(0));
