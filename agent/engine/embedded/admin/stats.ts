/**
 * Counters and gauges of the engine, kept as plain fields on one object per listener
 * and cluster so that the hot path increments a number and allocates nothing.
 * Rendered in Envoy's `/stats` text form and in Prometheus text form.
 */

/** Per-listener numbers. */
export class ListenerStats {
  downstream_cx_total = 0;
  downstream_cx_active = 0;
  downstream_cx_overflow = 0;
  downstream_cx_rx_bytes_total = 0;
  downstream_cx_tx_bytes_total = 0;
  downstream_rq_total = 0;
  rbac_allowed = 0;
  rbac_denied = 0;
  ssl_handshake_error = 0;
  no_filter_chain_match = 0;
  route_not_found = 0;
}

/** Per-cluster numbers. */
export class ClusterStats {
  upstream_cx_total = 0;
  upstream_cx_active = 0;
  upstream_cx_connect_fail = 0;
  upstream_cx_connect_timeout = 0;
  upstream_cx_rx_bytes_total = 0;
  upstream_cx_tx_bytes_total = 0;
  upstream_rq_total = 0;
  /** Requests sent again after their pooled connection reset before headers (Envoy's name). */
  upstream_rq_retry = 0;
  upstream_cx_none_healthy = 0;
  outlier_detection_ejections_total = 0;
  /** Ejections by the consecutive-5xx/gateway-failure detectors (Envoy: ejections_enforced_consecutive_5xx). */
  outlier_detection_ejections_enforced_consecutive_5xx = 0;
}

/** Control-plane numbers. */
export class ControlPlaneStats {
  connected_state = 0;
  config_updates = 0;
  update_rejected = 0;
  stream_restarts = 0;
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const GAUGES = new Set(['downstream_cx_active', 'upstream_cx_active', 'connected_state']);

/** Every stat of the engine. */
export class Stats {
  readonly listeners = new Map<string, ListenerStats>();
  readonly clusters = new Map<string, ClusterStats>();
  readonly controlPlane = new ControlPlaneStats();

  /** The stats object of a listener (created on first use, kept after removal). */
  listener(name: string): ListenerStats {
    let s = this.listeners.get(name);
    if (!s) this.listeners.set(name, (s = new ListenerStats()));
    return s;
  }

  /** The stats object of a cluster. */
  cluster(name: string): ClusterStats {
    let s = this.clusters.get(name);
    if (!s) this.clusters.set(name, (s = new ClusterStats()));
    return s;
  }

  /** Envoy's `/stats` form: `listener.<name>.<stat>: <value>`, sorted. */
  text(): string {
    const lines: string[] = [];
    for (const [k, v] of Object.entries(this.controlPlane)) lines.push(`control_plane.${k}: ${v}`);
    for (const [n, s] of this.listeners) for (const [k, v] of Object.entries(s)) lines.push(`listener.${n}.${k}: ${v}`);
    for (const [n, s] of this.clusters) for (const [k, v] of Object.entries(s)) lines.push(`cluster.${n}.${k}: ${v}`);
    return lines.sort().join('\n') + '\n';
  }

  /** Prometheus text exposition (names as Envoy's prometheus output uses them). */
  prometheus(): string {
    const families = new Map<string, string[]>();
    const add = (name: string, labels: string, v: number) => {
      let f = families.get(name);
      if (!f) families.set(name, (f = []));
      f.push(`${name}${labels} ${v}`);
    };
    for (const [k, v] of Object.entries(this.controlPlane)) add(`envoy_control_plane_${k}`, '', v);
    for (const [n, s] of [...this.listeners].sort()) for (const [k, v] of Object.entries(s)) add(`envoy_listener_${k}`, `{envoy_listener_name="${esc(n)}"}`, v);
    for (const [n, s] of [...this.clusters].sort()) for (const [k, v] of Object.entries(s)) add(`envoy_cluster_${k}`, `{envoy_cluster_name="${esc(n)}"}`, v);
    const out: string[] = [];
    for (const name of [...families.keys()].sort()) {
      const short = name.replace(/^envoy_(control_plane|listener|cluster)_/, '');
      out.push(`# TYPE ${name} ${GAUGES.has(short) ? 'gauge' : 'counter'}`, ...families.get(name)!);
    }
    return out.join('\n') + '\n';
  }
}
