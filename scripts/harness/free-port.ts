/**
 * Free ports for things that must be told their port up front (a Dataplane's inbound
 * port is part of its resource). Everything that can bind port 0 and log the result
 * does that instead. Ports handed out here are remembered so that two calls in one
 * run never return the same port while the first is not bound yet.
 */
import net from 'node:net';

const handedOut = new Set<number>();

/** A TCP port that is free on `host` right now and was not handed out before in this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, host, () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on ${host} after 50 attempts`);
}
