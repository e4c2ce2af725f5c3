/**
 * The tcp_proxy filter: pick a cluster (weighted, per connection), connect an
 * endpoint, then splice the two sockets with pipe() (no per-chunk work of ours).
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
    down.pipe(up);
    up.pipe(down);
    down.resume();
  });
}
