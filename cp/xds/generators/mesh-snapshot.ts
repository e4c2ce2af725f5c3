/**
 * The pure "mesh snapshot": from store contents to the per-mesh view generators read.
 * Reading the store is the caller's job; this file has no I/O.
 */
import type { Resource } from '../../../api/resource';
import { ZONE_TAG } from '../../../lib/naming/tags';
import type { MeshSnapshot } from './types';

/** What the snapshot is built from: lists as the store returns them. */
export interface StoreContents {
  meshes: Resource[];
  dataplanes: Resource[];
  zoneIngresses: Resource[];
  trafficRoutes: Resource[];
  trafficPermissions: Resource[];
  /** mesh -> service -> VIP. */
  vips: Record<string, Record<string, string>>;
}

const byName = (a: Resource, b: Resource) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0);

/** True when the mesh spec enables an mTLS backend. */
export function meshHasMtls(spec: Record<string, any> | undefined): boolean {
  return typeof spec?.mtls?.enabledBackend === 'string' && spec.mtls.enabledBackend.length > 0;
}

/** Whether a ZoneIngress belongs to another zone than `zone` (only those carry cross-zone endpoints). */
export function isRemoteIngress(ingress: Resource, zone: string): boolean {
  const z: string | undefined = ingress.spec.zone ?? ingress.meta.labels?.[ZONE_TAG];
  return !!z && z !== zone;
}

/** Builds one MeshSnapshot per mesh. Pure; sorted. */
export function buildMeshSnapshots(c: StoreContents, zone: string): Map<string, MeshSnapshot> {
  const remoteIngresses = c.zoneIngresses.filter((i) => isRemoteIngress(i, zone)).sort(byName);
  const out = new Map<string, MeshSnapshot>();
  for (const m of [...c.meshes].sort(byName)) {
    const name = m.meta.name;
    const ofMesh = (rs: Resource[]) => rs.filter((r) => r.meta.mesh === name).sort(byName);
    out.set(name, {
      name,
      spec: m.spec,
      mtls: meshHasMtls(m.spec),
      localityAware: m.spec.routing?.localityAwareLoadBalancing === true,
      dataplanes: ofMesh(c.dataplanes),
      remoteIngresses,
      trafficRoutes: ofMesh(c.trafficRoutes),
      trafficPermissions: ofMesh(c.trafficPermissions),
      vips: { ...(c.vips[name] ?? {}) },
    });
  }
  return out;
}
