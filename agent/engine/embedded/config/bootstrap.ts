/**
 * What the engine needs from the Envoy bootstrap kuma-dp got from the CP: the node,
 * the admin address and how to reach the ADS server (the static cluster named by
 * dynamic_resources.ads_config, its TLS CA and SNI, and the `authorization` initial
 * metadata). Pure; every problem is reported with its field path.
 */
import net from 'node:net';
import { ValidationError, ViolationCollector } from '../../../../lib/errors';

/** The parsed bootstrap. */
export interface BootstrapInfo {
  node: { id: string; cluster: string; metadata: Record<string, unknown> };
  admin?: { host: string; port: number };
  ads: { clusterName: string; host: string; port: number; caPem?: string; sni?: string; token?: string; tls: boolean };
  /** `overload.global_downstream_max_connections` from a static runtime layer (Kuma sets it), if any. */
  maxDownstreamConnections?: number;
}

/** Parses the JSON bootstrap; `fallback` supplies the CA and token when the bootstrap has none. */
export function parseBootstrap(b: Record<string, any>, fallback: { caPem?: string; token?: string } = {}): BootstrapInfo {
  const v = new ViolationCollector();
  const node = b?.node ?? {};
  if (!node.id) v.add('node.id', 'must be set');
  const adminSa = b?.admin?.address?.socket_address;
  let admin: BootstrapInfo['admin'];
  if (adminSa) {
    if (net.isIP(adminSa.address ?? '') === 0) v.add('admin.address.socket_address.address', `must be an IP address, got ${JSON.stringify(adminSa.address)}`);
    else admin = { host: adminSa.address, port: Number(adminSa.port_value ?? 0) };
  }
  const ads = b?.dynamic_resources?.ads_config;
  const svc = ads?.grpc_services?.[0];
  const clusterName: string | undefined = svc?.envoy_grpc?.cluster_name;
  if (!clusterName) v.add('dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name', 'must name the ADS cluster');
  let token: string | undefined;
  for (const md of svc?.initial_metadata ?? []) if (String(md?.key).toLowerCase() === 'authorization') token = md.value;
  const clusters: any[] = b?.static_resources?.clusters ?? [];
  const cl = clusters.find((c) => c?.name === clusterName);
  let host = '';
  let port = 0;
  let caPem: string | undefined;
  let sni: string | undefined;
  let tls = false;
  if (clusterName && !cl) v.add('static_resources.clusters', `no cluster named "${clusterName}" (the ADS cluster)`);
  if (cl) {
    const sa = cl.load_assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.endpoint?.address?.socket_address;
    if (!sa?.address || !sa.port_value) v.add(`static_resources.clusters["${clusterName}"].load_assignment`, 'needs one endpoint with a socket address');
    else {
      host = String(sa.address);
      port = Number(sa.port_value);
    }
    const ts = cl.transport_socket?.typed_config;
    if (ts) {
      tls = true;
      sni = ts.sni || undefined;
      caPem = ts.common_tls_context?.validation_context?.trusted_ca?.inline_string;
    }
  }
  let maxDownstreamConnections: number | undefined;
  for (const layer of b?.layered_runtime?.layers ?? []) {
    const n = Number(layer?.static_layer?.['overload.global_downstream_max_connections']);
    if (Number.isInteger(n) && n > 0) maxDownstreamConnections = n;
  }
  v.throwIfAny('bootstrap');
  return {
    maxDownstreamConnections,
    node: { id: String(node.id), cluster: String(node.cluster ?? ''), metadata: node.metadata ?? {} },
    admin,
    ads: { clusterName: clusterName!, host, port, caPem: caPem ?? fallback.caPem, sni, token: token ?? fallback.token, tls },
  };
}

export { ValidationError };
