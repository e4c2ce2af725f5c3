/**
 * Envoy v3 resources in proto3 JSON, shaped like the CP's golden output
 * (test/golden/xds): inbound listeners with DownstreamTlsContext + network RBAC,
 * outbound listeners with tcp_proxy or HCM + RDS, EDS clusters with
 * UpstreamTlsContext, assignments, SDS secrets.
 */
import { ExtensionTypeUrl as X } from '../../../../proto/index';

const ads = { ads: {}, resource_api_version: 'V3' };

/** SDS `identity_cert` and `mesh_ca`. */
export function secrets(id: { certPem: string; keyPem: string }, caPem: string): any[] {
  return [
    { name: 'identity_cert', tls_certificate: { certificate_chain: { inline_string: id.certPem }, private_key: { inline_string: id.keyPem } } },
    { name: 'mesh_ca', validation_context: { trusted_ca: { inline_string: caPem } } },
  ];
}

/** DownstreamTlsContext of an inbound listener (caller must be in the mesh). */
export function downstreamTls(mesh: string): any {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': X.DownstreamTlsContext,
      require_client_certificate: true,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: 'identity_cert', sds_config: ads }],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: `spiffe://${mesh}/` } }] },
          validation_context_sds_secret_config: { name: 'mesh_ca', sds_config: ads },
        },
      },
    },
  };
}

/** Network RBAC allowing the given SPIFFE IDs. */
export function rbac(prefix: string, allowed: string[]): any {
  return {
    name: 'envoy.filters.network.rbac',
    typed_config: {
      '@type': X.NetworkRbac,
      stat_prefix: prefix,
      rules: { action: 'ALLOW', policies: allowed.length ? { permitted: { permissions: [{ any: true }], principals: allowed.map((id) => ({ authenticated: { principal_name: { exact: id } } })) } } : {} },
    },
  };
}

/** tcp_proxy to one cluster or weighted clusters. */
export function tcpProxy(prefix: string, target: string | { name: string; weight: number }[]): any {
  const cfg: any = { '@type': X.TcpProxy, stat_prefix: prefix };
  if (typeof target === 'string') cfg.cluster = target;
  else cfg.weighted_clusters = { clusters: target };
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: cfg };
}

/** HTTP connection manager with RDS or an inline route to one cluster. */
export function hcm(prefix: string, routes: { rds: string } | { cluster: string }): any {
  const cfg: any = {
    '@type': X.HttpConnectionManager,
    stat_prefix: prefix,
    codec_type: 'AUTO',
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': X.Router } }],
  };
  if ('rds' in routes) cfg.rds = { config_source: ads, route_config_name: routes.rds };
  else cfg.route_config = { name: `inbound:${routes.cluster}`, validate_clusters: false, virtual_hosts: [{ name: 'app', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: routes.cluster, timeout: '0s' } }] }] };
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: cfg };
}

/** An inbound listener: mTLS, RBAC, then `terminal`. */
export function inboundListener(name: string, port: number, mesh: string, allowed: string[], terminal: any): any {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    traffic_direction: 'INBOUND',
    filter_chains: [{ filters: [rbac(`${name}.`, allowed), terminal], transport_socket: downstreamTls(mesh) }],
  };
}

/** An outbound listener (plain, from the app). */
export function outboundListener(name: string, port: number, terminal: any): any {
  return { name, address: { socket_address: { address: '127.0.0.1', port_value: port } }, traffic_direction: 'OUTBOUND', filter_chains: [{ filters: [terminal] }] };
}

/** A STATIC cluster to a local app port. */
export function localCluster(port: number): any {
  const name = `localhost:${port}`;
  return {
    name,
    type: 'STATIC',
    connect_timeout: '5s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  };
}

/** An EDS cluster with mTLS to a mesh service (Kuma SNI, ALPN kuma, SAN exact). */
export function meshCluster(name: string, mesh: string, service: string, sni: string, connectTimeout = '5s'): any {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: ads },
    connect_timeout: connectTimeout,
    lb_policy: 'ROUND_ROBIN',
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': X.UpstreamTlsContext,
        sni,
        common_tls_context: {
          alpn_protocols: ['kuma'],
          tls_certificate_sds_secret_configs: [{ name: 'identity_cert', sds_config: ads }],
          combined_validation_context: {
            default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: `spiffe://${mesh}/${service}` } }] },
            validation_context_sds_secret_config: { name: 'mesh_ca', sds_config: ads },
          },
        },
      },
    },
  };
}

/** A plain EDS cluster (the ingress forwards bytes as they are). */
export function plainEdsCluster(name: string): any {
  return { name, type: 'EDS', eds_cluster_config: { eds_config: ads }, connect_timeout: '5s', lb_policy: 'ROUND_ROBIN' };
}

/** A ClusterLoadAssignment; `eps` as [port, weight?, priority?]. */
export function assignment(name: string, eps: { port: number; weight?: number; priority?: number; host?: string }[]): any {
  const byPrio = new Map<number, any[]>();
  for (const e of eps) {
    const p = e.priority ?? 0;
    byPrio.set(p, [...(byPrio.get(p) ?? []), { endpoint: { address: { socket_address: { address: e.host ?? '127.0.0.1', port_value: e.port } } }, load_balancing_weight: e.weight ?? 1 }]);
  }
  return { cluster_name: name, endpoints: [...byPrio].map(([priority, lb]) => ({ locality: { zone: 'zone-1' }, lb_endpoints: lb, ...(priority ? { priority } : {}) })) };
}

/** A RouteConfiguration: `routes` as [match, target]. */
export function routeConfig(name: string, routes: { match: any; cluster?: string; weighted?: { name: string; weight: number }[] }[]): any {
  return {
    name,
    validate_clusters: false,
    virtual_hosts: [
      {
        name,
        domains: ['*'],
        routes: routes.map((r) => ({ match: r.match, route: r.cluster ? { cluster: r.cluster } : { weighted_clusters: { clusters: r.weighted } } })),
      },
    ],
  };
}

/** An ingress listener: tls_inspector, one chain per SNI, tcp_proxy without TLS. */
export function ingressListener(name: string, port: number, routes: { sni: string; cluster: string }[]): any {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    traffic_direction: 'INBOUND',
    listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': X.TlsInspector } }],
    filter_chains: routes.map((r) => ({ filter_chain_match: { server_names: [r.sni] }, filters: [tcpProxy(r.cluster, r.cluster)] })),
  };
}
