/**
 * Transparent proxying (iptables redirection, `networking.transparentProxying`): the
 * kernel sends a pod's outgoing traffic to redirectPortOutbound and incoming traffic to
 * redirectPortInbound. Two catch-all listeners there use the original destination
 * (`use_original_dst`) to hand each connection to the listener of that address:port;
 * those listeners then do not bind themselves (`bind_to_port: false`), which is what
 * lets VIP listeners exist for addresses no interface holds. Connections to addresses
 * without a listener pass through to where they were going (Kuma's
 * `outbound:passthrough:ipv4`; inbound ones leave from 127.0.0.6 so iptables does not
 * redirect them again).
 */
import { TypeUrl } from '../../../proto/index';
import { statPrefix } from './names';
import { addResource, emptyResourceSet, NO_RESOURCES, type ProxyContext, type ResourceSet } from './types';
import { ExtensionTypeUrl } from '../../../proto/index';

/** Source address of inbound passthrough connections (excluded from redirection by kuma's iptables rules). */
export const INBOUND_PASSTHROUGH_SOURCE = '127.0.0.6';

/** True when the dataplane's listeners are reached through iptables redirection. */
export function usesTransparentProxy(ctx: ProxyContext): boolean {
  const tp = ctx.dataplane?.networking?.transparentProxying;
  return !!tp && Number(tp.redirectPortOutbound ?? 0) > 0;
}

function passthrough(name: string, port: number, direction: 'INBOUND' | 'OUTBOUND'): Record<string, any> {
  return {
    name,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    use_original_dst: true,
    traffic_direction: direction,
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': ExtensionTypeUrl.TcpProxy, stat_prefix: statPrefix(name), cluster: name } }] }],
  };
}

/** The two redirection listeners and their ORIGINAL_DST clusters. */
export function generateTransparentProxy(ctx: ProxyContext): ResourceSet {
  if (!usesTransparentProxy(ctx)) return NO_RESOURCES;
  const set = emptyResourceSet();
  const tp = ctx.dataplane!.networking.transparentProxying;
  const out = 'outbound:passthrough:ipv4';
  addResource(set, TypeUrl.Listener, passthrough(out, Number(tp.redirectPortOutbound), 'OUTBOUND'));
  // Mesh `networking.outbound.passthrough: false`: traffic to non-mesh destinations is dropped
  // (a cluster without endpoints), as Kuma does.
  const passthroughAllowed = ctx.meshSnapshot?.spec.networking?.outbound?.passthrough !== false;
  addResource(
    set,
    TypeUrl.Cluster,
    passthroughAllowed
      ? { name: out, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '5s' }
      : { name: out, type: 'STATIC', connect_timeout: '5s', load_assignment: { cluster_name: out, endpoints: [] } },
  );
  if (Number(tp.redirectPortInbound ?? 0) > 0) {
    const inb = 'inbound:passthrough:ipv4';
    addResource(set, TypeUrl.Listener, passthrough(inb, Number(tp.redirectPortInbound), 'INBOUND'));
    addResource(set, TypeUrl.Cluster, {
      name: inb,
      type: 'ORIGINAL_DST',
      lb_policy: 'CLUSTER_PROVIDED',
      connect_timeout: '5s',
      upstream_bind_config: { source_address: { address: INBOUND_PASSTHROUGH_SOURCE, port_value: 0 } },
    });
  }
  return set;
}
