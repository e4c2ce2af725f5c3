/**
 * The names the CP's DNS server answers for, built from every mesh's VIP table. Pure.
 *
 * A service name may exist in several meshes; the zone CP's DNS has no way to know which
 * mesh is asking (kuma-dp's own DNS server answers per mesh), so the VIP of the first
 * mesh in alphabetical order wins. VIPs are unique across meshes, so that answer always
 * points at the right service of that mesh.
 *
 * Besides `<service>.mesh`, a service named the Kubernetes way
 * (`backend_default_svc_80`) also answers as `backend.default.svc.80.mesh` (Kuma does
 * the same, since `_` is not valid in host names).
 */
import type { VipTable } from '../vips/types';

/** The zone the CP DNS is authoritative for. */
export const MESH_DOMAIN = 'mesh';

/** One answerable name. */
export interface NameEntry {
  mesh: string;
  service: string;
  ip: string;
}

/** Lower-cased name (no trailing dot) -> entry. */
export type NameTable = ReadonlyMap<string, NameEntry>;

function isIpv4(ip: string): boolean {
  return /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(ip);
}

// A service usable in DNS: printable ASCII without spaces, labels of 1..63 octets.
function dnsSafe(service: string): boolean {
  if (service.length === 0 || service.length > 240 || !/^[\x21-\x7e]+$/.test(service)) return false;
  return service.split('.').every((l) => l.length > 0 && l.length <= 63);
}

/** Builds the name table: meshes in alphabetical order, exact names before dotted variants. */
export function buildNameTable(tables: ReadonlyMap<string, VipTable>): NameTable {
  const out = new Map<string, NameEntry>();
  const meshes = [...tables.keys()].sort();
  const rows: NameEntry[] = [];
  for (const mesh of meshes) {
    for (const [service, ip] of [...tables.get(mesh)!].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (isIpv4(ip) && dnsSafe(service)) rows.push({ mesh, service, ip });
    }
  }
  for (const r of rows) {
    const name = `${r.service.toLowerCase()}.${MESH_DOMAIN}`;
    if (!out.has(name)) out.set(name, r);
  }
  for (const r of rows) {
    if (!r.service.includes('_')) continue;
    const name = `${r.service.toLowerCase().replace(/_/g, '.')}.${MESH_DOMAIN}`;
    if (!out.has(name)) out.set(name, r);
  }
  return out;
}
