/**
 * Upstream clusters at run time: endpoints from EDS (or the static assignment), the
 * load balancer, TLS origination from the cluster's UpstreamTlsContext, connect
 * timeouts, and retry of a failed connect on another endpoint. HTTP traffic reuses
 * connections through one keep-alive agent per cluster.
 */
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../../../../lib/logger';
import type { AssignmentModel, ClusterModel, ConfigModel } from '../config/model';
import type { ClusterStats, Stats } from '../admin/stats';
import { checkSans, type SecretStore } from '../tls/secret-store';
import { uriSans } from '../tls/san';
import { LoadBalancer, type EndpointState } from './load-balancer';

/** How many endpoints one connection tries before it fails. */
export const MAX_CONNECT_ATTEMPTS = 3;

/** A connected upstream socket, or why there is none. */
export type ConnectCallback = (err: Error | undefined, socket?: net.Socket, endpoint?: EndpointState) => void;

/** One cluster at run time. */
export class ClusterRuntime {
  readonly lb = new LoadBalancer();
  agent: http.Agent;
  model: ClusterModel;
  /** Endpoint set the agent's pooled connections were made for. */
  endpointsKey = '';
  constructor(model: ClusterModel, readonly stats: ClusterStats, private readonly mgr: ClusterManager) {
    this.model = model;
    this.agent = this.newAgent();
  }

  /**
   * HTTP picks an endpoint per upstream connection and pools it; when the endpoint set
   * changes the pool is renewed so that new requests see the new set, while requests in
   * flight finish on their connection (which then closes instead of returning to the pool).
   */
  renewPool(): void {
    const old = this.agent;
    this.agent = this.newAgent();
    old.keepSocketAlive = () => false;
    for (const list of Object.values(old.freeSockets)) for (const s of list ?? []) s.destroy();
  }

  private newAgent(): http.Agent {
    const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 64, scheduling: 'lifo' });
    // The agent asks us for a socket; we pick and connect an endpoint (with retries).
    (agent as any).createConnection = (_opts: unknown, cb: (err: Error | null, s?: net.Socket) => void) => {
      this.mgr.connectRuntime(this, (err, s) => cb(err ?? null, s));
      return undefined;
    };
    return agent;
  }
}

/** Every cluster of the applied config. */
export class ClusterManager {
  private readonly clusters = new Map<string, ClusterRuntime>();

  constructor(
    private readonly stats: Stats,
    private readonly secrets: SecretStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
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
      const key = JSON.stringify(assignment.priorities) + JSON.stringify(model.tls ?? null);
      if (rt.endpointsKey && rt.endpointsKey !== key) rt.renewPool();
      rt.endpointsKey = key;
    }
    for (const [name, rt] of this.clusters) {
      if (!config.clusters.has(name)) {
        rt.agent.destroy();
        this.clusters.delete(name);
      }
    }
  }

  /** The runtime of a cluster, if configured. */
  get(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
  }

  /** Connects to an endpoint of the named cluster. */
  connect(name: string, cb: ConnectCallback): void {
    const rt = this.clusters.get(name);
    if (!rt) return cb(new Error(`cluster "${name}" is not configured`));
    this.connectRuntime(rt, cb);
  }

  /** Connects to an endpoint of a cluster, trying up to MAX_CONNECT_ATTEMPTS endpoints. */
  connectRuntime(rt: ClusterRuntime, cb: ConnectCallback): void {
    const tried = new Set<string>();
    const attempt = (lastErr?: Error): void => {
      const ep = tried.size < MAX_CONNECT_ATTEMPTS ? rt.lb.pick(this.now(), tried) : undefined;
      if (!ep) {
        if (!lastErr) rt.stats.upstream_cx_none_healthy++;
        return cb(lastErr ?? new Error(`cluster "${rt.model.name}" has no healthy endpoint`));
      }
      tried.add(ep.key);
      this.connectEndpoint(rt, ep, (err, sock) => {
        if (err) {
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
        return cb(new Error(`cluster "${m.name}": TLS secrets not yet received`));
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
    for (const rt of this.clusters.values()) rt.agent.destroy();
    this.clusters.clear();
  }
}
