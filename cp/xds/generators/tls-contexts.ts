/**
 * TLS contexts for mesh traffic. Certificates never appear inline in listeners or
 * clusters: both sides reference the SDS secrets `identity_cert` and `mesh_ca`
 * served over the same ADS stream, so rotation pushes one Secret, not every resource.
 */
import { ExtensionTypeUrl } from '../../../proto/index';
import { spiffeId, spiffePrefix } from '../../../lib/naming/spiffe';
import { IDENTITY_SECRET, MESH_CA_SECRET } from './types';

/** ALPN that marks mesh-internal TLS (Kuma's `kuma`). */
export const KUMA_ALPN = 'kuma';

const ADS_SOURCE = { ads: {}, resource_api_version: 'V3' };

function sdsCommon(sanMatcher: Record<string, string>): Record<string, any> {
  return {
    tls_certificate_sds_secret_configs: [{ name: IDENTITY_SECRET, sds_config: ADS_SOURCE }],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: sanMatcher }] },
      validation_context_sds_secret_config: { name: MESH_CA_SECRET, sds_config: ADS_SOURCE },
    },
  };
}

/** Inbound side: require a client certificate from this mesh (`spiffe://<mesh>/` prefix). */
export function downstreamTlsSocket(mesh: string): Record<string, any> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': ExtensionTypeUrl.DownstreamTlsContext,
      require_client_certificate: true,
      common_tls_context: sdsCommon({ prefix: spiffePrefix(mesh) }),
    },
  };
}

/** Outbound side: Kuma SNI, ALPN `kuma`, and the peer must be exactly `spiffe://<mesh>/<service>`. */
export function upstreamTlsSocket(mesh: string, service: string, sni: string): Record<string, any> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': ExtensionTypeUrl.UpstreamTlsContext,
      sni,
      common_tls_context: { alpn_protocols: [KUMA_ALPN], ...sdsCommon({ exact: spiffeId(mesh, service) }) },
    },
  };
}

/** Cluster option that makes Envoy speak HTTP/2 upstream (for http2 and grpc services). */
export function http2ProtocolOptions(): Record<string, any> {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': ExtensionTypeUrl.HttpProtocolOptions,
      explicit_http_config: { http2_protocol_options: {} },
    },
  };
}

/**
 * How long a pooled upstream HTTP connection of a mesh cluster may stay idle: Kuma's default
 * Timeout policy (`http.idleTimeout: 1h`), which is also Envoy's own default.
 */
export const MESH_HTTP_IDLE_TIMEOUT = '3600s';

/**
 * HttpProtocolOptions of an HTTP mesh cluster (sidecar to sidecar over mTLS): the upstream
 * protocol (HTTP/2 for http2 and grpc services, else HTTP/1.1) and the idle timeout of its
 * pooled connections, stated so that no data plane falls back to a shorter default of its
 * own and re-handshakes mTLS after every lull.
 */
export function meshHttpProtocolOptions(http2: boolean): Record<string, any> {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': ExtensionTypeUrl.HttpProtocolOptions,
      common_http_protocol_options: { idle_timeout: MESH_HTTP_IDLE_TIMEOUT },
      explicit_http_config: http2 ? { http2_protocol_options: {} } : { http_protocol_options: {} },
    },
  };
}

/** Config source for RDS/EDS/SDS over the ADS stream. */
export function adsConfigSource(): Record<string, any> {
  return { ads: {}, resource_api_version: 'V3' };
}
