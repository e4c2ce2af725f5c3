/** Loopback ports for tests of servers that bind one port for both UDP and TCP (DNS). */
import { freePort } from '../../../../lib/free-port';

/** A port free for both UDP and TCP on 127.0.0.1 a moment ago (below the ephemeral range). */
export function freeUdpTcpPort(): Promise<number> {
  return freePort({ udp: true });
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
