/**
 * TLS termination for a filter chain with a DownstreamTlsContext: a tls.Server that
 * never listens; the listener emits accepted sockets into it. The caller's certificate
 * must chain to the mesh CA (rejectUnauthorized), its URI SAN must match the context's
 * SAN matchers, and then the chain's network RBAC decides. A denied caller is closed
 * and counted.
 */
import tls from 'node:tls';
import type net from 'node:net';
import type { Logger } from '../../../../lib/logger';
import type { RbacModel, TlsServerModel } from '../config/model';
import type { ListenerStats } from '../admin/stats';
import { checkSans, peerUris } from '../tls/secret-store';
import { rbacAllows } from './rbac';

/** A handshake must finish within this time (Envoy's transport_socket_connect_timeout is unset by default; we bound it). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Builds the terminating server; `next` gets every authorised connection. */
export function createTlsTerminator(
  m: TlsServerModel,
  options: tls.SecureContextOptions,
  rbac: RbacModel | undefined,
  stats: ListenerStats,
  log: Logger,
  next: (s: tls.TLSSocket) => void,
): tls.Server {
  const server = tls.createServer({
    ...options,
    requestCert: m.requireClientCert || m.sanMatchers.length > 0 || !!rbac,
    rejectUnauthorized: m.requireClientCert,
    ALPNProtocols: m.alpn.length ? m.alpn : undefined,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  });
  server.on('tlsClientError', (err) => {
    stats.ssl_handshake_error++;
    log.debug({ err: err.message }, 'inbound TLS handshake failed');
  });
  server.on('secureConnection', (s: tls.TLSSocket) => {
    const authenticated = s.authorized === true;
    const uris = authenticated ? peerUris(s) : [];
    const sanProblem = m.requireClientCert ? checkSans(m.sanMatchers, uris) : undefined;
    if (sanProblem || !rbacAllows(rbac, uris, authenticated)) {
      stats.rbac_denied++;
      log.info({ peer: uris, reason: sanProblem ?? 'no RBAC policy allows the caller' }, 'inbound connection denied');
      s.destroy();
      return;
    }
    if (rbac) stats.rbac_allowed++;
    next(s);
  });
  return server;
}

/** Hands a raw accepted socket to the terminator (tls.Server's own connection listener wraps it). */
export function terminate(server: tls.Server, raw: net.Socket): void {
  server.emit('connection', raw);
}
