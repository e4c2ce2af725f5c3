/** Loopback ports for tests of servers that bind one port for both UDP and TCP (DNS). */
import dgram from 'node:dgram';
import net from 'node:net';

/** A port free for both UDP and TCP on 127.0.0.1 a moment ago. */
export async function freeUdpTcpPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const u = dgram.createSocket('udp4');
    await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
    const port = u.address().port;
    const ok = await new Promise<boolean>((r) => {
      const s = net.createServer().once('error', () => r(false)).listen(port, '127.0.0.1', () => s.close(() => r(true)));
    });
    await new Promise<void>((r) => u.close(() => r()));
    if (ok) return port;
  }
  throw new Error('no free UDP+TCP port on 127.0.0.1 in 20 tries');
}

/**
 * Starts what `start(port)` binds on a fresh UDP+TCP port, again on another port when the
 * one picked was taken in between (other tests run in parallel and open connections).
 */
export async function onFreeUdpTcpPort<T>(start: (port: number) => Promise<T>, tries = 5): Promise<{ port: number; value: T }> {
  for (let i = 1; ; i++) {
    const port = await freeUdpTcpPort();
    try {
      return { port, value: await start(port) };
    } catch (err) {
      if (i >= tries || !/in use|EADDRINUSE/.test(String((err as Error).message))) throw err;
    }
  }
}
