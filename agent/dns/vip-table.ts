/**
 * The DNS view of the CP's VIP table: which names exist under `.mesh` and the answer
 * records for each, encoded once when the table changes (rarely) so that a query costs
 * a lookup and a copy. Kuma answers both `<service>.mesh` and, for services named the
 * Kubernetes way (`backend_default_svc_80`), the RFC 1035-friendly form with the
 * underscores turned into dots (`backend.default.svc.80.mesh`). Pure.
 */
import net from 'node:net';
import { buildFastIndex, type FastIndex } from './fast-path';
import { encodeAddressRR } from './wire';

/** The zone kuma-dp answers for. */
export const MESH_DOMAIN = 'mesh';

/** What the CP returns from GET /dns/vips. */
export interface VipsDocument {
  mesh: string;
  ttl: number;
  vips: Record<string, string>;
}

/** The records of one name. */
export interface NameRecords {
  service: string;
  a?: Buffer;
  aaaa?: Buffer;
}

/** Immutable, precomputed table. */
export class VipTable {
  readonly names: ReadonlyMap<string, NameRecords>;
  /** Whole A/AAAA replies for every name, for the server's fast path (fast-path.ts). */
  readonly fast: FastIndex;
  constructor(
    readonly doc: VipsDocument,
    names: Map<string, NameRecords>,
  ) {
    this.names = names;
    this.fast = buildFastIndex(names);
  }

  /** Records of a lower-cased name without the trailing dot. */
  lookup(name: string): NameRecords | undefined {
    return this.names.get(name);
  }

  /** True for names kuma-dp is authoritative for (`mesh` and below). */
  static inMeshDomain(name: string): boolean {
    return name === MESH_DOMAIN || name.endsWith('.' + MESH_DOMAIN);
  }

  /** Builds a table; invalid IPs are skipped and reported. */
  static build(doc: VipsDocument): { table: VipTable; skipped: string[] } {
    const ttl = Number.isInteger(doc.ttl) && doc.ttl >= 0 && doc.ttl <= 86_400 ? doc.ttl : 60;
    const names = new Map<string, NameRecords>();
    const skipped: string[] = [];
    const services = Object.keys(doc.vips).sort();
    // Exact names first, so that a dotted variant never shadows a service's own name;
    // services are sorted, so collisions (names differing only in case) resolve the same way every time.
    const put = (name: string, service: string, ip: string) => {
      if (names.has(name)) return;
      names.set(name, net.isIPv4(ip) ? { service, a: encodeAddressRR(ip, ttl) } : { service, aaaa: encodeAddressRR(ip, ttl) });
    };
    for (const service of services) {
      const ip = doc.vips[service];
      if (typeof ip !== 'string' || net.isIP(ip) === 0 || !validLabelText(service)) {
        skipped.push(service);
        continue;
      }
      put(`${service.toLowerCase()}.${MESH_DOMAIN}`, service, ip);
    }
    for (const service of services) {
      const ip = doc.vips[service];
      if (!service.includes('_') || skipped.includes(service)) continue;
      const dotted = `${service.toLowerCase().replace(/_/g, '.')}.${MESH_DOMAIN}`;
      put(dotted, service, ip);
    }
    return { table: new VipTable({ ...doc, ttl }, names), skipped };
  }

  /** An empty table (nothing known yet). */
  static empty(): VipTable {
    return new VipTable({ mesh: '', ttl: 60, vips: {} }, new Map());
  }
}

/** A service name usable as DNS labels: printable ASCII, no dots at the ends, each label <= 63. */
function validLabelText(s: string): boolean {
  if (s.length === 0 || s.length > 240 || !/^[\x21-\x7e]+$/.test(s)) return false;
  return s.split('.').every((l) => l.length > 0 && l.length <= 63);
}

/** Checks the shape of a VIPs document from the CP or the cache file. */
export function parseVipsDocument(obj: unknown): VipsDocument {
  if (obj === null || typeof obj !== 'object') throw new Error('expected an object');
  const o = obj as Record<string, unknown>;
  if (o.vips === null || typeof o.vips !== 'object' || Array.isArray(o.vips)) throw new Error('vips: expected an object of service -> ip');
  const vips: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.vips as Record<string, unknown>)) if (typeof v === 'string') vips[k] = v;
  return { mesh: typeof o.mesh === 'string' ? o.mesh : '', ttl: typeof o.ttl === 'number' ? o.ttl : 60, vips };
}
