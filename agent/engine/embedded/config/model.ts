/**
 * The engine's model of an applied configuration: what the Envoy v3 resources say,
 * reduced to the subset the embedded engine carries out. Built only by the pure
 * translators in this folder, never by hand, so that both engines read one config.
 */

/** An IP and a port. */
export interface SocketAddr {
  host: string;
  port: number;
}

/** envoy.type.matcher.v3.StringMatcher, without safe_regex. */
export interface StringMatch {
  kind: 'exact' | 'prefix' | 'suffix' | 'contains';
  value: string;
  ignoreCase: boolean;
}

/** DownstreamTlsContext: terminate TLS with an SDS identity, verify the caller against an SDS CA. */
export interface TlsServerModel {
  certSecret: string;
  caSecret?: string;
  requireClientCert: boolean;
  /** The caller's URI SAN must match one of these (empty: any). */
  sanMatchers: StringMatch[];
  alpn: string[];
}

/** UpstreamTlsContext: originate TLS with SNI, ALPN, an SDS client cert, verify the server's URI SAN. */
export interface TlsClientModel {
  sni?: string;
  alpn: string[];
  certSecret?: string;
  caSecret?: string;
  sanMatchers: StringMatch[];
}

/** An RBAC principal (envoy.config.rbac.v3.Principal), the subset we evaluate. */
export type Principal =
  | { kind: 'any' }
  | { kind: 'authenticated'; match?: StringMatch }
  | { kind: 'and'; ids: Principal[] }
  | { kind: 'or'; ids: Principal[] }
  | { kind: 'not'; id: Principal };

/** Network RBAC filter (permissions must be `any`). */
export interface RbacModel {
  action: 'ALLOW' | 'DENY';
  policies: { name: string; principals: Principal[] }[];
}

/** One cluster, or several with weights (chosen per connection or per request). */
export type ClusterChoice = { kind: 'single'; cluster: string } | { kind: 'weighted'; clusters: { name: string; weight: number }[]; total: number };

/** envoy.filters.network.tcp_proxy */
export interface TcpProxyModel {
  kind: 'tcp';
  statPrefix: string;
  target: ClusterChoice;
  idleTimeoutMs?: number;
}

/** envoy.filters.network.http_connection_manager with the router filter. */
export interface HttpModel {
  kind: 'http';
  statPrefix: string;
  /**
   * common_http_protocol_options.idle_timeout: how long a downstream connection may stay
   * without a request (0: no limit). Absent: Envoy's default, 1 h.
   */
  idleTimeoutMs?: number;
  /** RDS name, when routes come from RouteConfiguration resources. */
  rdsName?: string;
  inlineRoutes?: RouteConfigModel;
}

/** A header condition of a route (`:method` and other pseudo-headers included). */
export interface HeaderMatch {
  name: string;
  present?: boolean;
  match?: StringMatch;
  invert: boolean;
}

/** One route: match, then target. */
export interface RouteModel {
  path?: string;
  prefix?: string;
  caseSensitive: boolean;
  headers: HeaderMatch[];
  target: ClusterChoice;
  /** 0 or absent: no timeout. */
  timeoutMs?: number;
}

/** envoy.config.route.v3.RouteConfiguration */
export interface RouteConfigModel {
  name: string;
  virtualHosts: { name: string; domains: string[]; routes: RouteModel[] }[];
}

/** One filter chain: how to match it, TLS termination, RBAC, then the terminal filter. */
export interface FilterChainModel {
  serverNames: string[];
  tls?: TlsServerModel;
  rbac?: RbacModel;
  terminal: TcpProxyModel | HttpModel;
}

/** envoy.config.listener.v3.Listener */
export interface ListenerModel {
  name: string;
  address: SocketAddr;
  direction: string;
  /** tls_inspector: read SNI from the ClientHello to pick a chain, without terminating. */
  tlsInspector: boolean;
  chains: FilterChainModel[];
}

/** One endpoint of a cluster. */
export interface EndpointModel {
  host: string;
  port: number;
  weight: number;
  locality: string;
}

/** A ClusterLoadAssignment: endpoint groups by priority, lowest first. */
export interface AssignmentModel {
  clusterName: string;
  priorities: { priority: number; endpoints: EndpointModel[] }[];
}

/** envoy.config.cluster.v3.Cluster */
export interface ClusterModel {
  name: string;
  type: 'EDS' | 'STATIC';
  /** EDS resource name (service_name or the cluster name). */
  edsName?: string;
  connectTimeoutMs: number;
  lbPolicy: string;
  tls?: TlsClientModel;
  staticAssignment?: AssignmentModel;
  /** HttpProtocolOptions explicit HTTP/2: HTTP requests go upstream over HTTP/2 (gRPC). */
  http2: boolean;
  /**
   * HttpProtocolOptions common_http_protocol_options.idle_timeout: how long a pooled HTTP
   * connection may stay idle (0: no limit). Absent: UPSTREAM_IDLE_TIMEOUT_MS.
   */
  idleTimeoutMs?: number;
  /** Passive health checking from `outlier_detection`; absent when the cluster has none. */
  outlier?: OutlierModel;
}

/**
 * The consecutive-error detectors of Envoy's OutlierDetection, with Envoy's defaults
 * filled in. Success-rate and failure-percentage detection are not implemented: a
 * cluster that enforces them is refused (see config/cluster.ts).
 */
export interface OutlierModel {
  /** consecutive_5xx: responses >= 500 in a row that eject an endpoint. */
  consecutive5xx: number;
  /** enforcing_consecutive_5xx: % chance that reaching the count ejects (100 by default). */
  enforcing5xx: number;
  /** consecutive_gateway_failure: 502/503/504 in a row. */
  consecutiveGateway: number;
  /** enforcing_consecutive_gateway_failure (0 by default: counted, never ejects). */
  enforcingGateway: number;
  /** base_ejection_time: an ejection lasts this times the number of consecutive ejections. */
  baseEjectionMs: number;
  /** max_ejection_time: the cap of one ejection. */
  maxEjectionMs: number;
  /** max_ejection_percent: at most this share of the endpoints is ejected at once (at least one). */
  maxEjectionPercent: number;
}

/** An SDS secret: an identity (chain + key) or a validation context (trusted CA). */
export interface SecretModel {
  name: string;
  cert?: { chain: string; key: string };
  ca?: string;
}

/** Everything applied at once. Maps are keyed by resource name. */
export interface ConfigModel {
  listeners: Map<string, ListenerModel>;
  clusters: Map<string, ClusterModel>;
  assignments: Map<string, AssignmentModel>;
  routes: Map<string, RouteConfigModel>;
  secrets: Map<string, SecretModel>;
}

/** An empty config (before the first update). */
export function emptyConfig(): ConfigModel {
  return { listeners: new Map(), clusters: new Map(), assignments: new Map(), routes: new Map(), secrets: new Map() };
}
