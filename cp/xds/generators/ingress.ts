/**
 * Zone ingress: one listener that reads the SNI from the TLS ClientHello (tls_inspector)
 * and forwards the still-encrypted bytes to a local endpoint of the service subset the
 * SNI names. No TLS termination: the destination sidecar terminates mesh mTLS itself,
 * so the ingress never holds a mesh identity.
 *
 * Which SNIs: for every mesh and every service with local instances, the plain
 * `<service>{mesh=...}` and every subset that a TrafficRoute of that mesh may send to
 * (sidecars in other zones put the subset tags in the SNI).
 */
import { ExtensionTypeUrl, TypeUrl } from '../../../proto/index';
import { SERVICE_TAG } from '../../../lib/naming/tags';
import { sniFor } from '../../../lib/naming/sni';
import { buildClusterLoadAssignment, localEndpoints } from './endpoints';
import { inboundListenerName, statPrefix } from './names';
import { rankSelector } from './policy-match';
import { resolveRoute, routeSubsets, tcpProxy } from './routes';
import { adsConfigSource } from './tls-contexts';
import { addResource, emptyResourceSet, type ProxyContext, type ResourceSet } from './types';

/** Subsets (as tag sets) the ingress must accept for one mesh, keyed by SNI. */
function ingressSubsets(ctx: ProxyContext, meshIndex: number): Map<string, Record<string, string>> {
  const mesh = ctx.meshes[meshIndex];
  const services = new Set<string>();
  for (const e of localEndpoints(mesh, ctx.cp.zone, {})) if (e.tags[SERVICE_TAG]) services.add(e.tags[SERVICE_TAG]);
  const out = new Map<string, Record<string, string>>();
  for (const service of [...services].sort()) {
    const plain = { [SERVICE_TAG]: service };
    out.set(sniFor(mesh.name, service), plain);
    for (const r of mesh.trafficRoutes) {
      const targets = (r.spec.destinations ?? []).some((d: { match?: Record<string, string> }) => rankSelector(d.match, plain));
      if (!targets) continue;
      for (const sub of routeSubsets(resolveRoute(r, service))) {
        if (sub.service === service) out.set(sniFor(mesh.name, service, sub.tags), sub.tags);
      }
    }
  }
  return out;
}

/** The ingress listener with one SNI-matched filter chain per subset, and the subset clusters. */
export function generateIngress(ctx: ProxyContext): ResourceSet {
  const set = emptyResourceSet();
  const net = ctx.zoneIngress?.networking;
  if (!net?.address || !net.port) return set;
  const chains: Record<string, any>[] = [];
  ctx.meshes.forEach((mesh, i) => {
    for (const [sni, tags] of ingressSubsets(ctx, i)) {
      const endpoints = localEndpoints(mesh, ctx.cp.zone, tags);
      if (endpoints.length === 0) continue;
      // The SNI is unique across meshes (it holds mesh=), so it names the cluster too.
      addResource(set, TypeUrl.Cluster, {
        name: sni,
        type: 'EDS',
        eds_cluster_config: { eds_config: adsConfigSource() },
        connect_timeout: '5s',
        lb_policy: 'ROUND_ROBIN',
      });
      addResource(set, TypeUrl.ClusterLoadAssignment, buildClusterLoadAssignment(sni, endpoints, false));
      chains.push({ filter_chain_match: { server_names: [sni] }, filters: [tcpProxy(sni, [{ cluster: sni, service: tags[SERVICE_TAG], tags, weight: 1 }])] });
    }
  });
  // Envoy refuses a listener without filter chains; with nothing to forward, bind nothing.
  if (chains.length === 0) return set;
  chains.sort((a, b) => (a.filter_chain_match.server_names[0] < b.filter_chain_match.server_names[0] ? -1 : 1));
  const name = inboundListenerName(net.address, Number(net.port));
  addResource(set, TypeUrl.Listener, {
    name,
    address: { socket_address: { address: net.address, port_value: Number(net.port) } },
    traffic_direction: 'INBOUND',
    listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': ExtensionTypeUrl.TlsInspector } }],
    filter_chains: chains,
    stat_prefix: statPrefix(name),
  });
  return set;
}
