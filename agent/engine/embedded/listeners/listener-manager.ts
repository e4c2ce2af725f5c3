/**
 * Binds and unbinds listeners as LDS changes. An unchanged listener keeps its socket
 * and its connections; a changed one (same address) swaps in new filter chains for new
 * connections only; a removed one stops accepting and drains: open connections get
 * `drainMs` to finish, then are destroyed (Envoy's drain_timeout). A bind failure
 * rolls back this update's new binds and is reported, so the update is NACKed.
 */
import net from 'node:net';
import type { Logger } from '../../../../lib/logger';
import type { ConfigModel, ListenerModel } from '../config/model';
import type { ListenerStats, Stats } from '../admin/stats';
import { matchServerName, peekSni, PEEK_TIMEOUT_MS } from '../ingress/sni-peek';
import { ChainRuntime, listenerRoutes, listenerSecrets, type ChainDeps } from './filter-chain';

/** The global downstream connection cap, shared by every listener. */
export interface ConnectionLimit {
  max: number;
  active: number;
}

/** One bound listener. */
class ActiveListener {
  chains: ChainRuntime[] = [];
  /** The listener model the chains were built from. */
  modelKey = '';
  /** Generations of the secrets the chains use. */
  secretKey = '';
  readonly sockets = new Set<net.Socket>();
  readonly server: net.Server;
  private closed = false;

  constructor(
    public model: ListenerModel,
    readonly stats: ListenerStats,
    private readonly log: Logger,
    private readonly limit: ConnectionLimit,
  ) {
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.onConnection(s));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onErr = (err: Error) => reject(err);
      this.server.once('error', onErr);
      this.server.listen({ host: this.model.address.host, port: this.model.address.port, exclusive: true }, () => {
        this.server.removeListener('error', onErr);
        this.server.on('error', (err) => this.log.error({ listener: this.model.name, err: err.message }, 'listener error'));
        resolve();
      });
    });
  }

  /** The bound port (differs from the model when it asked for 0). */
  port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : this.model.address.port;
  }

  private onConnection(sock: net.Socket): void {
    const st = this.stats;
    if (this.limit.active >= this.limit.max) {
      // Envoy's overload manager refuses connections past the global cap the same way.
      st.downstream_cx_overflow++;
      sock.destroy();
      return;
    }
    this.limit.active++;
    sock.once('close', () => this.limit.active--);
    st.downstream_cx_total++;
    st.downstream_cx_active++;
    this.sockets.add(sock);
    sock.on('error', () => sock.destroy());
    sock.once('close', () => {
      st.downstream_cx_active--;
      st.downstream_cx_rx_bytes_total += sock.bytesRead;
      st.downstream_cx_tx_bytes_total += sock.bytesWritten;
      this.sockets.delete(sock);
    });
    const chains = this.chains;
    if (this.model.tlsInspector) {
      peekSni(sock, PEEK_TIMEOUT_MS, (r) => {
        if (!r) return void sock.destroy();
        const chain = matchServerName(chains, r.serverName);
        if (!chain) {
          st.no_filter_chain_match++;
          return void sock.destroy();
        }
        chain.accept(sock, r.initial);
      });
      return;
    }
    const chain = chains.find((c) => c.model.serverNames.length === 0) ?? chains[0];
    if (!chain) {
      st.no_filter_chain_match++;
      sock.destroy();
      return;
    }
    chain.accept(sock);
  }

  /** Stops accepting; open connections get `drainMs`, then are destroyed. */
  async drain(drainMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // close() stops accepting at once; its callback would wait for every connection, so do not await it.
    this.server.close();
    for (const c of this.chains) c.closeIdle();
    const deadline = Date.now() + drainMs;
    while (this.sockets.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
      for (const c of this.chains) c.closeIdle();
    }
    this.destroy();
  }

  destroy(): void {
    this.closed = true;
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }
}

/** Every listener of the applied config. */
export class ListenerManager {
  private readonly active = new Map<string, ActiveListener>();
  private readonly draining = new Set<Promise<void>>();
  private readonly drainingListeners = new Set<ActiveListener>();

  constructor(
    private readonly stats: Stats,
    private readonly deps: ChainDeps,
    private readonly drainMs: () => number,
    private readonly log: Logger,
    private readonly limit: ConnectionLimit = { max: Number.POSITIVE_INFINITY, active: 0 },
  ) {}

  /** Brings the bound listeners in line with `config`; throws (after rollback) when a bind fails. */
  async apply(config: ConfigModel): Promise<void> {
    const secrets = this.deps.secrets;
    const added: ActiveListener[] = [];
    const swaps: { l: ActiveListener; model: ListenerModel; chains: ChainRuntime[]; modelKey: string; secretKey: string }[] = [];
    const replaced: ActiveListener[] = [];
    for (const [name, model] of config.listeners) {
      const needed = listenerSecrets(model);
      // Envoy "warms" a listener until its secrets and RDS routes have arrived; it is not bound before.
      const routes = listenerRoutes(model);
      if (!secrets.has(...needed) || !routes.every((r) => config.routes.has(r))) {
        this.log.debug({ listener: name, secrets: needed, routes }, 'listener warming: waiting for secrets or routes');
        continue;
      }
      // Routes are read per request and clusters per connection, so chains depend only on
      // the listener itself; a secret change is applied to the chains in place (no drain).
      const modelKey = JSON.stringify(model);
      const secretKey = secrets.fingerprint(...needed);
      const cur = this.active.get(name);
      if (cur && cur.modelKey === modelKey) {
        if (cur.secretKey !== secretKey) {
          for (const ch of cur.chains) ch.updateSecrets(ch.model.tls ? secrets.serverOptions(ch.model.tls) : undefined);
          cur.secretKey = secretKey;
        }
        continue;
      }
      const stats = this.stats.listener(name);
      const chains = model.chains.map((c) => new ChainRuntime(c, stats, this.deps, c.tls ? secrets.serverOptions(c.tls) : undefined));
      if (cur && cur.model.address.host === model.address.host && cur.model.address.port === model.address.port) {
        swaps.push({ l: cur, model, chains, modelKey, secretKey });
        continue;
      }
      const l = new ActiveListener(model, stats, this.log, this.limit);
      l.chains = chains;
      l.modelKey = modelKey;
      l.secretKey = secretKey;
      if (cur) replaced.push(cur);
      added.push(l);
    }
    // Free addresses of replaced listeners first, so a listener can move within one update.
    for (const old of replaced) old.server.close();
    const bound: ActiveListener[] = [];
    try {
      for (const l of added) {
        await l.listen();
        bound.push(l);
      }
    } catch (err) {
      for (const l of bound) l.destroy();
      for (const old of replaced) {
        try {
          await old.listen();
        } catch {
          // The old address is gone too; the listener stays unbound until a good update.
        }
      }
      const failed = added[bound.length];
      throw new Error(`listener "${failed.model.name}": cannot bind ${failed.model.address.host}:${failed.model.address.port}: ${(err as Error).message}`);
    }
    for (const s of swaps) {
      const old = s.l.chains;
      s.l.model = s.model;
      s.l.chains = s.chains;
      s.l.modelKey = s.modelKey;
      s.l.secretKey = s.secretKey;
      for (const ch of old) ch.retire(this.drainMs());
      this.log.info({ listener: s.model.name }, 'listener updated; connections of the old filter chains drain');
    }
    for (const old of replaced) this.startDrain(old);
    for (const l of added) {
      this.active.set(l.model.name, l);
      this.log.info({ listener: l.model.name, address: `${l.model.address.host}:${l.port()}` }, 'listener bound');
    }
    for (const [name, l] of this.active) {
      if (!config.listeners.has(name)) {
        this.active.delete(name);
        this.log.info({ listener: name }, 'listener removed; draining');
        this.startDrain(l);
      }
    }
  }

  private startDrain(l: ActiveListener): void {
    this.drainingListeners.add(l);
    const p = l.drain(this.drainMs()).finally(() => {
      this.draining.delete(p);
      this.drainingListeners.delete(l);
    });
    this.draining.add(p);
  }

  /** The bound port of a listener (useful when it asked for port 0). */
  boundPort(name: string): number | undefined {
    return this.active.get(name)?.port();
  }

  /** Names and addresses of the bound listeners. */
  dump(): Record<string, unknown>[] {
    return [...this.active.values()]
      .sort((a, b) => (a.model.name < b.model.name ? -1 : 1))
      .map((l) => ({ name: l.model.name, address: `${l.model.address.host}:${l.port()}`, connections: l.sockets.size }));
  }

  /** Drains every listener (graceful shutdown). */
  async drainAll(): Promise<void> {
    for (const l of this.active.values()) this.startDrain(l);
    this.active.clear();
    await Promise.all([...this.draining]);
  }

  /** Closes everything now. */
  destroy(): void {
    for (const l of this.active.values()) l.destroy();
    for (const l of this.drainingListeners) l.destroy();
    this.active.clear();
  }
}
