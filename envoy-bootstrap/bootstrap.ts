/**
 * Envoy v3 Bootstrap for a Kuma data plane proxy: a pure function of its parameters.
 * The result is proto3 canonical JSON with Envoy's field names, i.e. exactly what
 * `envoy --config-path` reads (durations as "1s", Struct as plain JSON, Any with
 * `@type`). Everything else (listeners, clusters, secrets) comes over ADS.
 *
 * Bootstrap reference: https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/bootstrap/v3/bootstrap.proto
 */
import net from 'node:net';
import type { FieldViolation } from '../lib/errors';
import { ExtensionTypeUrl } from '../proto/index';
import { encodeProtoJson } from '../proto/json';
import { validateBytes } from '../proto/validate';

/** Name of the static cluster that points at the CP's ADS server. */
export const ADS_CLUSTER = 'ads_cluster';
/** Fully-qualified name of the Bootstrap message. */
export const BOOTSTRAP_MESSAGE = 'envoy.config.bootstrap.v3.Bootstrap';
/** Default cap on downstream connections (Kuma's default for the overload runtime key). */
export const DEFAULT_MAX_DOWNSTREAM_CONNECTIONS = 50000;

/** Node metadata keys Kuma's CP reads back from the ADS node (pkg/xds/bootstrap). */
export const NodeMetadataKey = {
  proxyType: 'dataplane.proxyType',
  dnsPort: 'dataplane.dns.port',
  adminPort: 'dataplane.admin.port',
  readinessPort: 'dataplane.readinessReporter.port',
  version: 'version',
} as const;

/** Inputs of `buildBootstrap`. */
export interface BootstrapParams {
  mesh: string;
  name: string;
  proxyType: 'dataplane' | 'ingress';
  /** The proxy's main service (node.cluster); for ingresses Kuma uses the name. */
  service: string;
  /** Host and port of the CP's DP server (ADS over TLS). */
  cpHost: string;
  cpPort: number;
  /** PEM of the CA that signed the DP server's certificate. */
  cpCaPem: string;
  /** Dataplane token, sent as gRPC `authorization` metadata on the ADS stream. */
  dataplaneToken?: string;
  adminPort: number;
  /** Where the admin API binds; loopback unless told otherwise. */
  adminAddress?: string;
  /** kuma-dp's DNS port, when its DNS server is enabled. */
  dnsPort?: number;
  readinessPort?: number;
  version?: { kumaDp?: { version?: string }; envoy?: { version?: string } };
  maxDownstreamConnections?: number;
}

/** Builds the Bootstrap (proto3 JSON, Envoy field names) for one proxy. Pure. */
export function buildBootstrap(p: BootstrapParams): Record<string, any> {
  const metadata: Record<string, unknown> = {
    [NodeMetadataKey.proxyType]: p.proxyType,
    [NodeMetadataKey.adminPort]: String(p.adminPort),
    [NodeMetadataKey.version]: {
      kumaDp: { version: p.version?.kumaDp?.version ?? '' },
      envoy: { version: p.version?.envoy?.version ?? '' },
    },
  };
  if (p.dnsPort) metadata[NodeMetadataKey.dnsPort] = String(p.dnsPort);
  if (p.readinessPort) metadata[NodeMetadataKey.readinessPort] = String(p.readinessPort);

  const grpcService: Record<string, unknown> = { envoy_grpc: { cluster_name: ADS_CLUSTER } };
  if (p.dataplaneToken) grpcService.initial_metadata = [{ key: 'authorization', value: p.dataplaneToken }];

  const isIp = net.isIP(p.cpHost) !== 0;
  const upstreamTls: Record<string, unknown> = {
    '@type': ExtensionTypeUrl.UpstreamTlsContext,
    common_tls_context: {
      alpn_protocols: ['h2'],
      validation_context: { trusted_ca: { inline_string: p.cpCaPem } },
    },
  };
  // SNI must be a host name (RFC 6066 §3), never an IP literal.
  if (!isIp) upstreamTls.sni = p.cpHost;

  return {
    node: { id: `${p.mesh}.${p.name}`, cluster: p.service, metadata },
    admin: { address: { socket_address: { address: p.adminAddress ?? '127.0.0.1', port_value: p.adminPort } } },
    dynamic_resources: {
      lds_config: { ads: {}, resource_api_version: 'V3' },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [grpcService],
      },
    },
    static_resources: {
      clusters: [
        {
          name: ADS_CLUSTER,
          type: isIp ? 'STATIC' : 'STRICT_DNS',
          connect_timeout: '1s',
          lb_policy: 'ROUND_ROBIN',
          upstream_connection_options: { tcp_keepalive: {} },
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': ExtensionTypeUrl.HttpProtocolOptions,
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: upstreamTls },
          load_assignment: {
            cluster_name: ADS_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: p.cpHost, port_value: p.cpPort } } } }] }],
          },
        },
      ],
    },
    // Kuma caps connections with this runtime key so a flood cannot exhaust the proxy's fds.
    layered_runtime: {
      layers: [
        {
          name: 'kuma',
          static_layer: {
            'overload.global_downstream_max_connections': p.maxDownstreamConnections ?? DEFAULT_MAX_DOWNSTREAM_CONNECTIONS,
          },
        },
        { name: 'admin', admin_layer: {} },
      ],
    },
    stats_config: {
      stats_tags: [
        { tag_name: 'mesh', fixed_value: p.mesh },
        { tag_name: 'name', fixed_value: p.name },
      ],
    },
  };
}

/** Encodes a bootstrap with Envoy's protos (strict JSON) and returns every PGV violation; throws on unknown fields. */
export function checkBootstrap(bootstrap: Record<string, any>): FieldViolation[] {
  return validateBytes(BOOTSTRAP_MESSAGE, encodeProtoJson(BOOTSTRAP_MESSAGE, bootstrap));
}
