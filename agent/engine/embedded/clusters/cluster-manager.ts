/**
 * Upstream clusters at run time: endpoints from EDS (or the static assignment), the
 * load balancer, TLS origination from the cluster's UpstreamTlsContext, connect
 * timeouts, and retry of a failed connect on another endpoint. HTTP traffic reuses
 * connections through one keep-alive agent per cluster.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../../../../lib/logger';
import type { AssignmentModel, ClusterModel, ConfigModel } from '../config/model';
import type { ClusterStats, Stats } from '../admin/stats';
import { checkSans, type SecretStore } from '../tls/secret-store';
import { uriSans } from '../tls/san';
import { LoadBalancer, type EndpointState } from './load-balancer';
import { H1Conn, H1Pool } from './h1-pool';

/** How many endpoints one connection tries before it fails. */
export const MAX_CONNECT_ATTEMPTS = 3;

/**
 * How long a pooled HTTP/1 upstream connection may stay idle before the engine closes it,
 * when the cluster does not say (common_http_protocol_options.idle_timeout, which the CP
 * sets on mesh clusters as Kuma's default Timeout does: 1 h; Envoy's own default is 1 h).
 * Below the keep-alive timeouts of common app servers (Node's 5 s), so that the engine,
 * not the app, closes an idle connection and no request is sent on one the app is closing.
 * An app's `Keep-Alive: timeout=N` hint lowers either limit to N minus 1 s.
 */
export const UPSTREAM_IDLE_TIMEOUT_MS = 4_000;

/** A connected upstream socket, or why there is none. */
export type ConnectCallback = (err: Error | undefined, socket?: net.Socket, endpoint?: EndpointState) => void;

/** One cluster at run time. */
export class ClusterRuntime {
  readonly lb = new LoadBalancer();
  model: ClusterModel;
  /** TLS settings the pooled connections were made with. */
  tlsKey = '';
  /** One keep-alive pool per endpoint, so that HTTP balances per request like Envoy, not per connection. */
  private readonly agents = new Map<string, http.Agent>();
  /** The lean forwarder's keep-alive connections, one pool per endpoint. */
  private readonly h1Pools = new Map<string, H1Pool>();
  /** The endpoint behind each pool or HTTP/2 session, for observe(). */
  private readonly endpointOf = new WeakMap<object, EndpointState>();
  constructor(model: ClusterModel, readonly stats: ClusterStats, private readonly mgr: ClusterManager) {
    this.model = model;
  }

  /** Picks the endpoint for one HTTP request and returns its pool; undefined when no endpoint exists. */
  requestAgent(): http.Agent | undefined {
    const ep = this.lb.pick(this.mgr.now());
    if (!ep) {
      this.stats.upstream_cx_none_healthy++;
      return undefined;
    }
    let agent = this.agents.get(ep.key);
    if (!agent) {
      // An idle pooled socket times out as the lean forwarder's do (the cluster's idle_timeout; 0: never).
      const idle = this.idleLimitMs();
      agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 64, scheduling: 'lifo', timeout: idle === Infinity ? 0 : idle });
      // The pool asks us for a socket: connect its endpoint first, others if that fails.
      (agent as any).createConnection = (_opts: unknown, cb: (err: Error | null, s?: net.Socket) => void) => {
        this.mgr.connectRuntime(
          this,
          (err, s) => {
            // Plain upstream sockets allow half-open for the TCP proxy. HTTP/1 has no use for it:
            // when the app closes an idle pooled connection (its keep-alive timeout), a half-open
            // socket would neither close nor leave the pool, and the next request written on it
            // would never be answered. Without half-open, the FIN closes it and the pool drops it.
            if (s) s.allowHalfOpen = false;
            cb(err ?? null, s);
          },
          ep,
        );
        return undefined;
      };
      this.agents.set(ep.key, agent);
      this.endpointOf.set(agent, ep);
    }
    return agent;
  }

  /** Picks the endpoint for one HTTP/1.1 request of the lean forwarder and returns its pool; undefined when no endpoint exists. */
  h1Pick(): H1Pool | undefined {
    const ep = this.lb.pick(this.mgr.now());
    if (!ep) {
      this.stats.upstream_cx_none_healthy++;
      return undefined;
    }
    return this.h1PoolOf(ep);
  }

  private h1PoolOf(ep: EndpointState): H1Pool {
    let pool = this.h1Pools.get(ep.key);
    if (!pool) this.h1Pools.set(ep.key, (pool = new H1Pool(ep)));
    // An EDS update makes new endpoint objects for the same address: observe the current one.
    else if (pool.ep !== ep) pool.ep = ep;
    return pool;
  }

  /**
   * A new connection for the lean forwarder: the pool's endpoint first, other endpoints if
   * that fails (each failure ejects). The connection belongs to the pool of the endpoint
   * that answered.
   */
  h1Connect(pool: H1Pool, cb: (err: Error | undefined, conn?: H1Conn) => void): void {
    this.mgr.connectRuntime(
      this,
      (err, s, ep) => {
        if (err || !s) return cb(err ?? new Error('no socket'));
        // As for the agent's sockets below: no half-open HTTP/1 upstream connections.
        s.allowHalfOpen = false;
        cb(undefined, new H1Conn(s, ep ? this.h1PoolOf(ep) : pool, this.idleLimitMs()));
      },
      pool.ep,
    );
  }

  /** How long a new pooled HTTP/1 connection may stay idle: the cluster's idle_timeout (0: no limit), else UPSTREAM_IDLE_TIMEOUT_MS. */
  private idleLimitMs(): number {
    const t = this.model.idleTimeoutMs;
    return t === undefined ? UPSTREAM_IDLE_TIMEOUT_MS : t === 0 ? Infinity : t;
  }

  /** Passive health checking for the lean forwarder: observe() by endpoint. */
  observeEndpoint(ep: EndpointState, status: number): void {
    const od = this.model.outlier;
    if (!od) return;
    if (this.lb.observe(ep, status, this.mgr.now(), od)) {
      this.stats.outlier_detection_ejections_total++;
      this.stats.outlier_detection_ejections_enforced_consecutive_5xx++;
      this.mgr.ejected(this, ep, status);
    }
  }

  /**
   * Passive health checking: the HTTP proxy reports the status of every upstream answer
   * (a locally made 503 when the upstream reset or could not be reached) with the pool or
   * session it used. Without outlier_detection on the cluster it does nothing.
   */
  observe(handle: object, status: number): void {
    const od = this.model.outlier;
    if (!od) return;
    const ep = this.endpointOf.get(handle);
    if (ep) this.observeEndpoint(ep, status);
  }

  /** One multiplexed HTTP/2 session per endpoint, made on first use. */
  private readonly h2 = new Map<string, Promise<http2.ClientHttp2Session>>();

  /** Picks the endpoint for one HTTP/2 request and resolves with its session (connecting it when needed). */
  h2Session(): Promise<http2.ClientHttp2Session> {
    const ep = this.lb.pick(this.mgr.now());
    if (!ep) {
      this.stats.upstream_cx_none_healthy++;
      return Promise.reject(new Error(`cluster "${this.model.name}" has no healthy endpoint`));
    }
    let p = this.h2.get(ep.key);
    if (!p) {
      p = new Promise<http2.ClientHttp2Session>((resolve, reject) => {
        this.mgr.connectRuntime(
          this,
          (err, sock) => {
            if (err || !sock) return reject(err ?? new Error('no socket'));
            const session = http2.connect(`http://${ep.key}`, { createConnection: () => sock });
            this.endpointOf.set(session, ep);
            const forget = () => {
              if (this.h2.get(ep.key) === p) this.h2.delete(ep.key);
            };
            session.on('close', forget);
            session.on('goaway', forget);
            session.on('error', forget);
            resolve(session);
          },
          ep,
        );
      });
      p.catch(() => {
        if (this.h2.get(ep.key) === p) this.h2.delete(ep.key);
      });
      this.h2.set(ep.key, p);
    }
    return p;
  }

  /** Retires pools of endpoints not in `keep` (all when undefined): in-flight requests finish, then their connections close. */
  retirePools(keep?: ReadonlySet<string>): void {
    for (const [key, agent] of this.agents) {
      if (keep?.has(key)) continue;
      this.agents.delete(key);
      agent.keepSocketAlive = () => false;
      for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
    }
    for (const [key, pool] of this.h1Pools) {
      if (keep?.has(key)) continue;
      this.h1Pools.delete(key);
      pool.retire();
    }
    for (const [key, p] of this.h2) {
      if (keep?.has(key)) continue;
      this.h2.delete(key);
      // GOAWAY: streams in flight finish, no new ones start.
      p.then((s) => s.close(), () => undefined);
    }
  }

  /** Closes every pooled connection now. */
  destroyPools(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
    for (const pool of this.h1Pools.values()) pool.retire();
    this.h1Pools.clear();
    for (const p of this.h2.values()) p.then((s) => s.destroy(), () => undefined);
    this.h2.clear();
  }
}

/** Every cluster of the applied config. */
export class ClusterManager {
  private readonly clusters = new Map<string, ClusterRuntime>();

  constructor(
    private readonly stats: Stats,
    private readonly secrets: SecretStore,
    private readonly log: Logger,
    /** The clock (ejection times). */
    readonly now: () => number = Date.now,
  ) {}

  /** Applies clusters and assignments; removed clusters close their pooled connections. */
  apply(config: ConfigModel): void {
    for (const [name, model] of config.clusters) {
      let rt = this.clusters.get(name);
      if (!rt) this.clusters.set(name, (rt = new ClusterRuntime(model, this.stats.cluster(name), this)));
      rt.model = model;
      const a: AssignmentModel | undefined = model.type === 'EDS' ? config.assignments.get(model.edsName!) : model.staticAssignment;
      const assignment = a ?? { clusterName: name, priorities: [] };
      rt.lb.update(assignment);
      const tlsKey = JSON.stringify(model.tls ?? null);
      // Pools of removed endpoints close; a TLS change (SNI, SANs) renews every pool.
      rt.retirePools(rt.tlsKey && rt.tlsKey !== tlsKey ? undefined : new Set(rt.lb.all().map((e) => e.key)));
      rt.tlsKey = tlsKey;
    }
    for (const [name, rt] of this.clusters) {
      if (!config.clusters.has(name)) {
        rt.destroyPools();
        this.clusters.delete(name);
      }
    }
  }

  /** The runtime of a cluster, if configured. */
  get(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
  }

  /** Logs an outlier ejection (one line per ejection: they are rare and an operator wants each). */
  ejected(rt: ClusterRuntime, ep: EndpointState, status: number): void {
    const ms = ep.ejectedUntil - this.now();
    this.log.warn({ cluster: rt.model.name, endpoint: ep.key, status, ejections: ep.outlierEjections, ejectedForMs: ms }, 'endpoint ejected by outlier detection (consecutive errors)');
  }

  /** Connects to an endpoint of the named cluster. */
  connect(name: string, cb: ConnectCallback): void {
    const rt = this.clusters.get(name);
    if (!rt) return cb(new Error(`cluster "${name}" is not configured`));
    this.connectRuntime(rt, cb);
  }

  /** Connects to an endpoint of a cluster (`first` when given), trying up to MAX_CONNECT_ATTEMPTS endpoints. */
  connectRuntime(rt: ClusterRuntime, cb: ConnectCallback, first?: EndpointState): void {
    const tried = new Set<string>();
    const attempt = (lastErr?: Error): void => {
      const ep = tried.size === 0 && first ? first : tried.size < MAX_CONNECT_ATTEMPTS ? rt.lb.pick(this.now(), tried) : undefined;
      if (!ep) {
        if (!lastErr) rt.stats.upstream_cx_none_healthy++;
        return cb(lastErr ?? new Error(`cluster "${rt.model.name}" has no healthy endpoint`));
      }
      tried.add(ep.key);
      this.connectEndpoint(rt, ep, (err, sock) => {
        if (err) {
          // Missing secrets are our state, not the endpoint's health: fail without ejecting.
          if ((err as NodeJS.ErrnoException).code === 'ERR_SECRETS_WARMING') return cb(err);
          rt.lb.failed(ep, this.now());
          rt.stats.outlier_detection_ejections_total++;
          this.log.debug({ cluster: rt.model.name, endpoint: ep.key, err: err.message }, 'upstream connect failed; endpoint ejected');
          return attempt(err);
        }
        rt.lb.succeeded(ep);
        cb(undefined, sock, ep);
      });
    };
    attempt();
  }

  private connectEndpoint(rt: ClusterRuntime, ep: EndpointState, cb: (err?: Error, s?: net.Socket) => void): void {
    const m = rt.model;
    const st = rt.stats;
    st.upstream_cx_total++;
    let sock: net.Socket;
    let ready: string;
    if (m.tls) {
      const ctx = this.secrets.clientContext(m.tls);
      if (!ctx) {
        st.upstream_cx_connect_fail++;
        return cb(Object.assign(new Error(`cluster "${m.name}": TLS secrets not yet received`), { code: 'ERR_SECRETS_WARMING' }));
      }
      const matchers = m.tls.sanMatchers;
      sock = tls.connect({
        host: ep.ep.host,
        port: ep.ep.port,
        secureContext: ctx,
        servername: m.tls.sni,
        ALPNProtocols: m.tls.alpn.length ? m.tls.alpn : undefined,
        rejectUnauthorized: true,
        // The mesh identity is the URI SAN, not a host name: check it instead of the default.
        checkServerIdentity: (_host, cert) => {
          const why = checkSans(matchers, uriSans(cert.subjectaltname));
          return why ? new Error(`upstream ${ep.key} of "${m.name}": ${why}`) : undefined;
        },
      });
      ready = 'secureConnect';
    } else {
      sock = net.connect({ host: ep.ep.host, port: ep.ep.port, allowHalfOpen: true });
      ready = 'connect';
    }
    let done = false;
    const timer = setTimeout(() => {
      st.upstream_cx_connect_timeout++;
      fail(new Error(`connect to ${ep.key} timed out after ${m.connectTimeoutMs} ms`));
    }, m.connectTimeoutMs);
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      st.upstream_cx_connect_fail++;
      sock.destroy();
      cb(err);
    };
    sock.once('error', fail);
    sock.once(ready, () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.removeListener('error', fail);
      sock.setNoDelay(true);
      st.upstream_cx_active++;
      ep.active++;
      sock.once('close', () => {
        st.upstream_cx_active--;
        ep.active--;
        st.upstream_cx_rx_bytes_total += sock.bytesRead;
        st.upstream_cx_tx_bytes_total += sock.bytesWritten;
      });
      cb(undefined, sock);
    });
  }

  /** Endpoints and their health, for the admin `/clusters` page. */
  dump(): Record<string, unknown>[] {
    const now = this.now();
    return [...this.clusters.values()]
      .sort((a, b) => (a.model.name < b.model.name ? -1 : 1))
      .map((rt) => ({
        name: rt.model.name,
        type: rt.model.type,
        tls: rt.model.tls ? { sni: rt.model.tls.sni } : undefined,
        endpoints: rt.lb.all().map((s) => ({
          address: s.key,
          priority: s.priority,
          weight: s.ep.weight,
          locality: s.ep.locality,
          health: s.ejectedUntil > now ? 'ejected' : 'healthy',
          active: s.active,
          ejections: s.ejections,
        })),
      }));
  }

  /** Closes every pooled connection. */
  destroy(): void {
    for (const rt of this.clusters.values()) rt.destroyPools();
    this.clusters.clear();
  }
}
