/**
 * The tcp_proxy filter: pick a cluster (weighted, per connection), connect an
 * endpoint, then splice the two sockets: each chunk read on one side is written to the
 * other, reading pauses while the other side's write buffer is full and resumes on
 * 'drain', and an end (FIN) is passed on. That is what pipe() does, without the work
 * pipe() adds per chunk for cases a socket pair never has (several destinations,
 * object mode, unpipe bookkeeping).
 * Used by outbound listeners, by inbound listeners towards the app, and by the
 * ingress (which passes the ClientHello it has already read as `initial`).
 */
import type net from 'node:net';
import type { Logger } from '../../../../lib/logger';
import type { TcpProxyModel } from '../config/model';
import type { ClusterManager } from '../clusters/cluster-manager';
import { chooseCluster } from '../http/route-match';

/** Proxies `down` to a cluster of `tcp`. */
export function proxyTcp(down: net.Socket, tcp: TcpProxyModel, clusters: ClusterManager, log: Logger, initial?: Buffer): void {
  const cluster = chooseCluster(tcp.target, Math.random());
  const onDownErr = () => down.destroy();
  down.on('error', onDownErr);
  clusters.connect(cluster, (err, up) => {
    if (err || !up) {
      log.debug({ cluster, err: err?.message }, 'tcp_proxy: no upstream connection');
      down.destroy();
      return;
    }
    if (down.destroyed) {
      up.destroy();
      return;
    }
    up.on('error', () => {
      up.destroy();
      down.destroy();
    });
    // A clean close on one side ends the other (pending writes still flush); an abort aborts it.
    up.on('close', (hadError) => (hadError ? down.destroy() : down.end()));
    down.on('close', (hadError) => (hadError ? up.destroy() : up.end()));
    if (tcp.idleTimeoutMs) {
      down.setTimeout(tcp.idleTimeoutMs, () => {
        down.destroy();
        up.destroy();
      });
    }
    if (initial && initial.length) up.write(initial);
    splice(down, up);
    splice(up, down);
    down.resume();
  });
}

/** Copies `from`'s bytes and its end to `to`, with backpressure. */
function splice(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}
