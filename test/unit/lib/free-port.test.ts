import t from 'tap';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { freePort, pickRange } from '../../../lib/free-port';

t.test('pickRange: just below the ephemeral range, or above it when there is no room below', async (t) => {
  t.same(pickRange('32768\t60999\n'), [16384, 32767], "Linux's default range");
  t.same(pickRange('49152 65535'), [32768, 49151]);
  t.same(pickRange('10000 60000'), [1024, 9999], 'never into the privileged ports');
  t.same(pickRange('1500 60999'), [61000, 65535], 'an ephemeral range from 1500 up leaves no room below');
  t.same(pickRange(undefined), [16384, 32767], 'not Linux: as if the default');
  t.same(pickRange('garbage'), [16384, 32767]);
});

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/** The range freePort picks from on this machine. */
function localRange(): [number, number] {
  try {
    return pickRange(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'));
  } catch {
    return pickRange(undefined);
  }
}

t.test('freePort: bindable, below the ephemeral range, never handed out twice', async (t) => {
  const range = localRange();
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) seen.add(await freePort());
  t.equal(seen.size, 100, '100 calls, 100 ports');
  t.ok([...seen].every((p) => p >= range[0] && p <= range[1]), `all within ${range[0]}-${range[1]}`);
  const port = await freePort();
  const s = await listen(port);
  t.pass(`bound ${port}`);
  await new Promise((r) => s.close(r));
});

t.test('freePort({ udp: true }): free for UDP too', async (t) => {
  const port = await freePort({ udp: true });
  const u = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    u.once('error', reject);
    u.bind(port, '127.0.0.1', () => resolve());
  });
  const s = await listen(port);
  t.pass(`UDP and TCP bound on ${port}`);
  await new Promise((r) => s.close(r));
  await new Promise<void>((r) => u.close(() => r()));
});

t.test('freePort skips ports taken for TCP, and with udp those taken for UDP', async (t) => {
  const [low, high] = localRange();
  const tcpTaken = await neighbourTaken(low, high, 'tcp');
  const udpTaken = await neighbourTaken(low, high, 'udp');
  const ok = await freeNeighbour(low, high, [tcpTaken.port, udpTaken.port]);
  // Steer the random picks onto the taken ports first.
  const real = Math.random;
  const seq = [tcpTaken.port, udpTaken.port, ok].map((port) => (port - low + 0.5) / (high - low + 1));
  Math.random = () => (seq.length ? seq.shift()! : real());
  let got: number;
  try {
    got = await freePort({ udp: true });
  } finally {
    Math.random = real;
  }
  t.equal(got, ok, `${tcpTaken.port} (TCP taken) and ${udpTaken.port} (UDP taken) skipped`);
  await tcpTaken.close();
  await udpTaken.close();
});

/** A port in [low, high] that this test binds itself (TCP or UDP), bypassing freePort. */
async function neighbourTaken(low: number, high: number, kind: 'tcp' | 'udp'): Promise<{ port: number; close: () => Promise<void> }> {
  for (let port = high; port >= low; port--) {
    try {
      if (kind === 'tcp') {
        const s = await listen(port);
        return { port, close: () => new Promise((r) => s.close(() => r())) };
      }
      const u = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        u.once('error', (e) => (u.close(), reject(e)));
        u.bind(port, '127.0.0.1', () => resolve());
      });
      // Taken for UDP only: TCP on it must still be free, or this is not the case we want.
      const s = await listen(port).catch(() => undefined);
      if (!s) {
        await new Promise<void>((r) => u.close(() => r()));
        continue;
      }
      await new Promise((r) => s.close(r));
      return { port, close: () => new Promise((r) => u.close(() => r())) };
    } catch {
      // taken already: next
    }
  }
  throw new Error(`no port to take in ${low}-${high}`);
}

/** A port in [low, high], not in `avoid`, free for TCP and UDP right now. */
async function freeNeighbour(low: number, high: number, avoid: number[]): Promise<number> {
  for (let port = low; port <= high; port++) {
    if (avoid.includes(port)) continue;
    const s = await listen(port).catch(() => undefined);
    if (!s) continue;
    await new Promise((r) => s.close(r));
    const u = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((r) => u.close(() => r()));
    if (ok) return port;
  }
  throw new Error(`no free port in ${low}-${high}`);
}
