/**
 * Who is on the other end of an ADS stream, from its node: Kuma's node id is
 * `<mesh>.<name>` (split at the first dot: mesh names have no dots, proxy names may),
 * and `.<name>` for a ZoneIngress, which belongs to no mesh. gRPC clients announce
 * themselves with a user agent name starting with "gRPC" (grpc-js: "gRPC Node Pure JS").
 */
import { ValidationError } from '../../../lib/errors';
import type { ProxyKind } from '../generators/types';
import type { NodeInfo } from './ads-server';
import { FEATURE_CLUSTER_IDLE_TIMEOUT, proxySupports } from '../../../lib/client-features';

/** A parsed proxy identity. */
export interface ParsedProxyId {
  kind: ProxyKind;
  mesh: string;
  name: string;
  /** kuma-dp runs its DNS server (node metadata `dataplane.dns.port`). */
  dnsEnabled: boolean;
  /** Mesh clusters may state their idle timeout (false: an embedded engine that predates it; lib/client-features.ts). Absent: true. */
  clusterIdleTimeout?: boolean;
}

/** Parses the node; ValidationError when the id is not `<mesh>.<name>`. */
export function parseProxyId(node: NodeInfo): ParsedProxyId {
  const dot = node.id.indexOf('.');
  if (dot < 0 || dot === node.id.length - 1) {
    throw new ValidationError('invalid node', [{ field: 'node.id', message: `must be "<mesh>.<name>" (or ".<name>" for a zone ingress), got "${node.id}"` }]);
  }
  const mesh = node.id.slice(0, dot);
  const name = node.id.slice(dot + 1);
  const proxyType = node.metadata['dataplane.proxyType'];
  let kind: ProxyKind = 'dataplane';
  if (node.userAgentName.startsWith('gRPC')) kind = 'proxyless';
  else if (proxyType === 'ingress' || mesh === '') kind = 'ingress';
  if (kind !== 'ingress' && mesh === '') {
    throw new ValidationError('invalid node', [{ field: 'node.id', message: `a ${kind} needs a mesh: "<mesh>.<name>", got "${node.id}"` }]);
  }
  const dns = node.metadata['dataplane.dns.port'];
  return {
    kind,
    mesh: kind === 'ingress' ? '' : mesh,
    name,
    dnsEnabled: dns !== undefined && dns !== '' && dns !== '0',
    clusterIdleTimeout: proxySupports(node.userAgentName, node.clientFeatures ?? [], FEATURE_CLUSTER_IDLE_TIMEOUT),
  };
}
