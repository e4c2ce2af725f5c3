/**
 * One filter chain at run time: the objects that carry a connection through it (TLS
 * terminator, RBAC, tcp_proxy or HTTP proxy). Chains are rebuilt whenever their
 * listener, routes' secrets or clusters change; connections already accepted keep the
 * chain they started with, so nothing open is dropped by an update.
 */
import type http from 'node:http';
import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from '../../../../lib/logger';
import type { FilterChainModel, ListenerModel, RouteConfigModel } from '../config/model';
import type { ListenerStats } from '../admin/stats';
import type { ClusterManager } from '../clusters/cluster-manager';
import type { SecretStore } from '../tls/secret-store';
import type http2 from 'node:http2';
import { createHttpProxyServer, type HttpProxyDeps } from '../http/http-proxy';
import { createHttp2ProxyServer } from '../http/http2-proxy';
import { H1Forwarder } from '../http/h1-forwarder';
import { ReplaySocket, sniffHttp2 } from '../http/replay-socket';
import { createTlsTerminator, terminate } from '../inbound/tls-terminator';
import { rbacAllows } from '../inbound/rbac';
import { proxyTcp } from '../outbound/tcp-proxy';

/** What chains need from the engine. */
export interface ChainDeps {
  clusters: ClusterManager;
  secrets: SecretStore;
  /** The applied RouteConfiguration by name (RDS). */
  route: (name: string) => RouteConfigModel | undefined;
  log: Logger;
}

/** A chain ready to take connections. */
export class ChainRuntime {
  private readonly tlsServer?: tls.Server;
  /** node:http, for the HTTP/1 requests the lean forwarder hands over (Upgrade, Expect, HTTP/2 clusters). */
  readonly httpServer?: http.Server;
  private readonly h1?: H1Forwarder;
  private h2Server?: http2.Http2Server;
  /** Connections accepted through this chain and still open. */
  private readonly sockets = new Set<net.Socket>();
  private httpDeps?: HttpProxyDeps;
  /** Set when a config change replaced this chain: its connections are being drained. */
  retired = false;

  constructor(
    readonly model: FilterChainModel,
    private readonly stats: ListenerStats,
    private readonly deps: ChainDeps,
    tlsOptions: tls.SecureContextOptions | undefined,
  ) {
    const t = model.terminal;
    if (t.kind === 'http') {
      const inline = t.inlineRoutes;
      const rds = t.rdsName;
      this.httpDeps = {
        model: t,
        routes: inline ? () => inline : () => deps.route(rds!),
        clusters: deps.clusters,
        stats,
        log: deps.log,
        draining: () => this.retired,
      };
      this.httpServer = createHttpProxyServer(this.httpDeps);
      this.h1 = new H1Forwarder(this.httpDeps, this.httpServer);
    }
    if (model.tls && tlsOptions) {
      this.tlsServer = createTlsTerminator(model.tls, tlsOptions, model.rbac, stats, deps.log, (s) => this.afterTls(s));
    }
  }

  /** Server names this chain matches (empty: the default chain). */
  get serverNames(): string[] {
    return this.model.serverNames;
  }

  /** Takes an accepted connection; `initial` holds bytes already read (ingress SNI peek). */
  accept(sock: net.Socket, initial?: Buffer): void {
    this.sockets.add(sock);
    sock.once('close', () => this.sockets.delete(sock));
    if (this.tlsServer) return terminate(this.tlsServer, sock);
    // Without TLS there is no peer identity: RBAC sees an unauthenticated caller.
    if (this.model.rbac && !rbacAllows(this.model.rbac, [], false)) {
      this.stats.rbac_denied++;
      sock.destroy();
      return;
    }
    this.afterTls(sock, initial);
  }

  private afterTls(sock: net.Socket, initial?: Buffer): void {
    // A peer reset while we wait for the first bytes (protocol sniffing) must free the socket.
    sock.on('error', destroyOnError);
    const t = this.model.terminal;
    if (t.kind === 'tcp') return proxyTcp(sock, t, this.deps.clusters, this.deps.log, initial);
    // codec_type AUTO: HTTP/2 with prior knowledge (gRPC) or HTTP/1.1.
    sniffHttp2(sock, (h2, head) => {
      if (!h2) return void this.h1!.accept(sock);
      this.h2Server ??= createHttp2ProxyServer(this.httpDeps!);
      this.h2Server.emit('connection', new ReplaySocket(sock, head));
    });
  }

  /** Closes idle keep-alive connections (drain). */
  closeIdle(): void {
    this.h1?.closeIdle();
  }

  /** New secrets for this chain (SDS rotation): new handshakes use them, open sockets keep theirs. */
  updateSecrets(options: tls.SecureContextOptions | undefined): void {
    if (this.tlsServer && options) this.tlsServer.setSecureContext(options);
  }

  /**
   * A config change replaced this chain (e.g. a new RBAC policy): like Envoy's filter
   * chain drain, HTTP connections close after their current response, idle ones at once,
   * and whatever is still open after `drainMs` is closed, so that old policy does not
   * live on in long-lived connections.
   */
  retire(drainMs: number): void {
    if (this.retired) return;
    this.retired = true;
    this.closeIdle();
    if (this.sockets.size === 0) return;
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, drainMs);
    timer.unref();
  }
}

function destroyOnError(this: net.Socket): void {
  this.destroy();
}

/** Secrets a listener needs before it can be bound (Envoy "warms" it until then). */
export function listenerSecrets(l: ListenerModel): string[] {
  const out: string[] = [];
  for (const c of l.chains) {
    if (c.tls) {
      out.push(c.tls.certSecret);
      if (c.tls.caSecret) out.push(c.tls.caSecret);
    }
  }
  return out;
}

/** RDS route configurations a listener needs before it can be bound. */
export function listenerRoutes(l: ListenerModel): string[] {
  const out: string[] = [];
  for (const c of l.chains) if (c.terminal.kind === 'http' && c.terminal.rdsName) out.push(c.terminal.rdsName);
  return out;
}
