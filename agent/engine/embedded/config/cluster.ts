/**
 * Cluster and ClusterLoadAssignment -> ClusterModel and AssignmentModel.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/cluster.proto
 */
import { ExtensionTypeUrl } from '../../../../proto/index';
import { anyType, Checker, commonHttpIdleTimeoutMs, durationMs, join, wrapped } from './checker';
import { translateAddress } from './listener';
import type { AssignmentModel, ClusterModel, EndpointModel, OutlierModel } from './model';
import { translateUpstreamTls } from './tls';

/** Envoy's default connect timeout (cluster.proto: "defaults to 5s"). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const LB_POLICIES = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'];

/** Translates a ClusterLoadAssignment (EDS, or a cluster's inline load_assignment). */
export function translateAssignment(c: Checker, a: any, path: string): AssignmentModel {
  c.only(a, path, ['cluster_name', 'endpoints', 'policy']);
  const byPriority = new Map<number, EndpointModel[]>();
  (a?.endpoints ?? []).forEach((le: any, i: number) => {
    const lp = join(path, `endpoints[${i}]`);
    c.only(le, lp, ['locality', 'lb_endpoints', 'load_balancing_weight', 'priority']);
    const priority = Number(le.priority ?? 0);
    const locality = le.locality ? [le.locality.region, le.locality.zone, le.locality.sub_zone].filter(Boolean).join('/') : '';
    const list = byPriority.get(priority) ?? [];
    (le.lb_endpoints ?? []).forEach((e: any, j: number) => {
      const ep = `${lp}.lb_endpoints[${j}]`;
      c.only(e, ep, ['endpoint', 'load_balancing_weight', 'health_status']);
      if (e.health_status && e.health_status !== 'HEALTHY' && e.health_status !== 'UNKNOWN') return;
      c.only(e.endpoint, join(ep, 'endpoint'), ['address']);
      const addr = translateAddress(c, e.endpoint?.address, join(ep, 'endpoint.address'));
      const weight = wrapped(e.load_balancing_weight) ?? 1;
      if (weight < 1) c.add(join(ep, 'load_balancing_weight'), `must be >= 1, got ${weight}`);
      if (addr) list.push({ host: addr.host, port: addr.port, weight: Math.max(1, weight), locality });
    });
    byPriority.set(priority, list);
  });
  const priorities = [...byPriority.keys()].sort((x, y) => x - y).map((priority) => ({ priority, endpoints: byPriority.get(priority)! }));
  return { clusterName: a?.cluster_name ?? '', priorities };
}

const HTTP_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** What the engine takes from a cluster's HttpProtocolOptions. */
interface ProtocolOptions {
  http2: boolean;
  /** common_http_protocol_options.idle_timeout in ms (0: never), when set. */
  idleTimeoutMs?: number;
}

/**
 * typed_extension_protocol_options: the explicit upstream protocol (HTTP/1.1, or HTTP/2 as
 * Kuma sets for http2 and grpc services) and the idle timeout of pooled connections
 * (common_http_protocol_options.idle_timeout, Kuma's Timeout `http.idleTimeout`).
 */
function translateProtocolOptions(c: Checker, opts: Record<string, any> | undefined): ProtocolOptions {
  const out: ProtocolOptions = { http2: false };
  if (!opts) return out;
  for (const key of Object.keys(opts).sort()) {
    const p = `typed_extension_protocol_options["${key}"]`;
    const v = opts[key];
    if (key !== HTTP_OPTIONS_KEY || anyType(v) !== ExtensionTypeUrl.HttpProtocolOptions) {
      c.add(p, `unsupported protocol options ${JSON.stringify(anyType(v) ?? key)}; supported: ${ExtensionTypeUrl.HttpProtocolOptions}`);
      continue;
    }
    c.only(v, p, ['explicit_http_config', 'common_http_protocol_options']);
    const e = v.explicit_http_config;
    c.only(e, join(p, 'explicit_http_config'), ['http_protocol_options', 'http2_protocol_options']);
    if (e?.http2_protocol_options) {
      c.only(e.http2_protocol_options, join(p, 'explicit_http_config.http2_protocol_options'), []);
      out.http2 = true;
    } else if (!e?.http_protocol_options) c.add(join(p, 'explicit_http_config'), 'needs http_protocol_options or http2_protocol_options');
    const idle = commonHttpIdleTimeoutMs(c, v.common_http_protocol_options, join(p, 'common_http_protocol_options'));
    if (idle !== undefined) out.idleTimeoutMs = idle;
  }
  return out;
}

/** OutlierDetection fields whose effect the engine has (the consecutive-error detectors). */
const OUTLIER_FIELDS = [
  'consecutive_5xx', 'enforcing_consecutive_5xx', 'consecutive_gateway_failure', 'enforcing_consecutive_gateway_failure',
  'interval', 'base_ejection_time', 'max_ejection_time', 'max_ejection_percent',
];
/**
 * Fields of detectors the engine does not run. They are accepted when they cannot eject
 * anything (their `enforcing_*` is absent or 0, or the detector is off), so a config that
 * also suits Envoy applies, and refused when they would, since the engine would silently
 * keep hosts Envoy ejects.
 */
const INERT_OUTLIER_FIELDS = [
  'success_rate_minimum_hosts', 'success_rate_request_volume', 'success_rate_stdev_factor',
  'failure_percentage_threshold', 'failure_percentage_minimum_hosts', 'failure_percentage_request_volume',
  'split_external_local_origin_errors', 'consecutive_local_origin_failure', 'enforcing_consecutive_local_origin_failure',
  'enforcing_local_origin_success_rate', 'enforcing_failure_percentage_local_origin', 'max_ejection_time_jitter',
  'successful_active_health_check_uneject_host', 'always_eject_one_host',
];
const UNSUPPORTED_ENFORCING = ['enforcing_success_rate', 'enforcing_failure_percentage'];

/** Envoy's OutlierDetection defaults (outlier_detection.proto). */
export const OUTLIER_DEFAULTS: OutlierModel = {
  consecutive5xx: 5,
  enforcing5xx: 100,
  consecutiveGateway: 5,
  enforcingGateway: 0,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 10,
};

/** Translates a cluster's outlier_detection. */
function translateOutlier(c: Checker, od: any): OutlierModel {
  c.only(od, 'outlier_detection', [...OUTLIER_FIELDS, ...INERT_OUTLIER_FIELDS, ...UNSUPPORTED_ENFORCING]);
  for (const f of UNSUPPORTED_ENFORCING) {
    const v = wrapped(od?.[f]);
    if (v) c.add(join('outlier_detection', f), `${v}: success-rate and failure-percentage ejection are not implemented by the embedded engine; set it to 0 (only the consecutive_5xx and consecutive_gateway_failure detectors run)`);
  }
  const num = (field: string, dflt: number, max?: number): number => {
    const v = wrapped(od?.[field]);
    if (v === undefined) return dflt;
    if (!Number.isFinite(v) || v < 0 || (max !== undefined && v > max)) {
      c.add(join('outlier_detection', field), `must be between 0 and ${max ?? '4294967295'}, got ${v}`);
      return dflt;
    }
    return v;
  };
  const ms = (field: string, dflt: number): number => {
    const v = durationMs(od?.[field]);
    if (v === undefined) return dflt;
    if (v <= 0) {
      c.add(join('outlier_detection', field), `must be a positive duration, got ${v} ms`);
      return dflt;
    }
    return v;
  };
  const d = OUTLIER_DEFAULTS;
  const base = ms('base_ejection_time', d.baseEjectionMs);
  return {
    consecutive5xx: num('consecutive_5xx', d.consecutive5xx),
    enforcing5xx: num('enforcing_consecutive_5xx', d.enforcing5xx, 100),
    consecutiveGateway: num('consecutive_gateway_failure', d.consecutiveGateway),
    enforcingGateway: num('enforcing_consecutive_gateway_failure', d.enforcingGateway, 100),
    baseEjectionMs: base,
    // Envoy: max_ejection_time defaults to 300 s, or base_ejection_time when that is larger.
    maxEjectionMs: ms('max_ejection_time', Math.max(d.maxEjectionMs, base)),
    maxEjectionPercent: num('max_ejection_percent', d.maxEjectionPercent, 100),
  };
}

/** Translates one Cluster. */
export function translateCluster(c: Checker, cl: any): ClusterModel | undefined {
  c.only(cl, '', ['name', 'type', 'eds_cluster_config', 'connect_timeout', 'lb_policy', 'load_assignment', 'transport_socket', 'outlier_detection', 'alt_stat_name', 'typed_extension_protocol_options']);
  if (!cl?.name) {
    c.add('name', 'not set');
    return undefined;
  }
  const type = cl.type ?? 'STATIC';
  if (type !== 'EDS' && type !== 'STATIC') {
    c.add('type', `only EDS and STATIC clusters are supported, got ${type}`);
    return undefined;
  }
  const lbPolicy = cl.lb_policy ?? 'ROUND_ROBIN';
  if (!LB_POLICIES.includes(lbPolicy)) c.add('lb_policy', `supported: ${LB_POLICIES.join(', ')}; got ${lbPolicy}`);
  const po = translateProtocolOptions(c, cl.typed_extension_protocol_options);
  const out: ClusterModel = {
    name: cl.name,
    type,
    connectTimeoutMs: durationMs(cl.connect_timeout) ?? DEFAULT_CONNECT_TIMEOUT_MS,
    lbPolicy,
    http2: po.http2,
  };
  if (po.idleTimeoutMs !== undefined) out.idleTimeoutMs = po.idleTimeoutMs;
  if (out.connectTimeoutMs <= 0) out.connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS;
  if (type === 'EDS') {
    const ec = cl.eds_cluster_config;
    c.only(ec, 'eds_cluster_config', ['eds_config', 'service_name']);
    if (!ec?.eds_config?.ads) c.add('eds_cluster_config.eds_config', 'endpoints must come over ADS (eds_config.ads)');
    out.edsName = ec?.service_name || cl.name;
  } else {
    if (!cl.load_assignment) c.add('load_assignment', 'a STATIC cluster needs load_assignment');
    else out.staticAssignment = translateAssignment(c, cl.load_assignment, 'load_assignment');
  }
  if (cl.transport_socket) out.tls = translateUpstreamTls(c, cl.transport_socket, 'transport_socket');
  if (cl.outlier_detection) out.outlier = translateOutlier(c, cl.outlier_detection);
  return out;
}
