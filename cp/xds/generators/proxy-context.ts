/**
 * Assembles the ProxyContext of one proxy from mesh snapshots. Pure.
 */
import type { Resource } from '../../../api/resource';
import type { CpSettings, IdentityMaterial, MeshSnapshot, ProxyContext, ProxyKind } from './types';

/** Who the proxy is, as its ADS node and the store say. */
export interface ProxyIdentity {
  kind: ProxyKind;
  mesh: string;
  name: string;
  /** The Dataplane (dataplane, proxyless) or ZoneIngress (ingress) resource, when known. */
  resource?: Resource;
  dnsEnabled: boolean;
  /** Mesh clusters may state their idle timeout (default true; false for an embedded engine that predates it). */
  clusterIdleTimeout?: boolean;
}

/** The context generators get for one proxy. */
export function buildProxyContext(
  meshes: ReadonlyMap<string, MeshSnapshot>,
  proxy: ProxyIdentity,
  cp: CpSettings,
  identity?: IdentityMaterial,
): ProxyContext {
  const all = [...meshes.values()];
  return {
    kind: proxy.kind,
    mesh: proxy.mesh,
    name: proxy.name,
    cp,
    dataplane: proxy.kind !== 'ingress' ? proxy.resource?.spec : undefined,
    zoneIngress: proxy.kind === 'ingress' ? proxy.resource?.spec : undefined,
    meshSnapshot: proxy.kind === 'ingress' ? undefined : meshes.get(proxy.mesh),
    meshes: all,
    dnsEnabled: proxy.dnsEnabled,
    clusterIdleTimeout: proxy.clusterIdleTimeout ?? true,
    identity,
  };
}
