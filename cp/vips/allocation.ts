/**
 * VIP allocation, pure: given the previous state, the services each mesh has now and
 * the configured CIDR, the next state. Properties the rest of the mesh relies on:
 * - unique across meshes: every (mesh, service) pair owns a distinct address, so one
 *   CP DNS can answer for any mesh without ambiguity about which service an IP means;
 * - sticky: a service keeps its VIP while it exists; one that disappears keeps a claim
 *   on its VIP for a grace period (a redeploy gets the same VIP back), and a released
 *   VIP is reused only once the rest of the range has been used (a cursor walks the
 *   range), so stale DNS answers rarely point at another service;
 * - deterministic: new services are placed in sorted (mesh, service) order.
 */
import { ValidationError } from '../../lib/errors';

/** One allocated address; `releasedAt` (ms) is set once the service is gone. */
export interface VipEntry {
  mesh: string;
  service: string;
  ip: string;
  releasedAt?: number;
}

/** What is persisted: the range used, the cursor, and every live or released entry. */
export interface VipState {
  cidr: string;
  /** Offset in the range where the next search for a free address starts. */
  next: number;
  /** Sorted by mesh, then service. */
  entries: VipEntry[];
}

/** An IPv4 range. */
export interface Ipv4Range {
  base: number;
  size: number;
}

/** How long a vanished service keeps its VIP reserved (a restarting workload comes back to the same VIP). */
export const DEFAULT_RELEASE_GRACE_MS = 60 * 60 * 1000;

/** Dotted quad -> uint32; undefined when not an IPv4 address. */
export function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** uint32 -> dotted quad. */
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

/** Parses an IPv4 CIDR (`240.0.0.0/4`); ValidationError naming KUMA_DNS_SERVER_CIDR otherwise. */
export function parseCidr(cidr: string): Ipv4Range {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
  const ip = m ? ipToInt(m[1]) : undefined;
  const bits = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(bits >= 1 && bits <= 32)) {
    throw new ValidationError('invalid VIP range', [{ field: 'KUMA_DNS_SERVER_CIDR', message: `must be an IPv4 CIDR such as 240.0.0.0/4 or 127.64.0.0/10, got ${JSON.stringify(cidr)}` }]);
  }
  const size = 2 ** (32 - bits);
  return { base: ip - (ip % size), size };
}

/** Whether an offset may be handed out: not the network/broadcast address, nor an address ending in .0 or .255. */
export function usableOffset(range: Ipv4Range, offset: number): boolean {
  if (range.size <= 2) return true;
  if (offset === 0 || offset === range.size - 1) return false;
  const last = (range.base + offset) & 0xff;
  return last !== 0 && last !== 255;
}

/** How many addresses of the range usableOffset accepts. */
export function usableCount(range: Ipv4Range): number {
  if (range.size <= 2) return range.size;
  if (range.size >= 256) return (range.size / 256) * 254;
  let n = 0;
  for (let o = 0; o < range.size; o++) if (usableOffset(range, o)) n++;
  return n;
}

/** The result of one allocation round. */
export interface AllocationResult {
  state: VipState;
  /** Services left without a VIP because the range is full. */
  exhausted: { mesh: string; service: string }[];
}

function key(mesh: string, service: string): string {
  return `${mesh}\u0000${service}`;
}

function compareEntries(a: { mesh: string; service: string }, b: { mesh: string; service: string }): number {
  if (a.mesh !== b.mesh) return a.mesh < b.mesh ? -1 : 1;
  return a.service < b.service ? -1 : a.service > b.service ? 1 : 0;
}

/** Computes the next state; `wanted` is mesh -> services that exist now. */
export function allocate(
  prev: VipState | undefined,
  wanted: ReadonlyMap<string, ReadonlySet<string>>,
  opts: { cidr: string; now: number; releaseGraceMs?: number },
): AllocationResult {
  const range = parseCidr(opts.cidr);
  const grace = opts.releaseGraceMs ?? DEFAULT_RELEASE_GRACE_MS;
  const entries = new Map<string, VipEntry>();
  const used = new Set<number>();
  const sameRange = prev !== undefined && prev.cidr === opts.cidr;
  for (const e of prev?.entries ?? []) {
    const n = ipToInt(e.ip);
    // After a CIDR change, entries outside the new range are dropped (and re-allocated).
    if (n === undefined || n < range.base || n >= range.base + range.size || used.has(n)) continue;
    const live = wanted.get(e.mesh)?.has(e.service) ?? false;
    const next: VipEntry = { mesh: e.mesh, service: e.service, ip: e.ip };
    if (!live) {
      next.releasedAt = e.releasedAt ?? opts.now;
      if (opts.now - next.releasedAt > grace) continue;
    }
    entries.set(key(e.mesh, e.service), next);
    used.add(n);
  }
  let cursor = sameRange && Number.isInteger(prev!.next) && prev!.next >= 0 && prev!.next < range.size ? prev!.next : 0;
  const capacity = usableCount(range);
  const exhausted: AllocationResult['exhausted'] = [];
  const missing: { mesh: string; service: string }[] = [];
  for (const [mesh, services] of wanted) for (const service of services) if (!entries.has(key(mesh, service))) missing.push({ mesh, service });
  missing.sort(compareEntries);
  for (const m of missing) {
    let ip: number | undefined;
    if (used.size < capacity) {
      // A free address exists; the walk passes at most used.size taken ones plus skipped .0/.255 ones.
      for (let steps = 0; steps < range.size; steps++) {
        const o = (cursor + steps) % range.size;
        if (usableOffset(range, o) && !used.has(range.base + o)) {
          ip = range.base + o;
          cursor = (o + 1) % range.size;
          break;
        }
      }
    } else {
      // Full: reclaim the VIP released longest ago, if any.
      const released = [...entries.values()].filter((e) => e.releasedAt !== undefined).sort((a, b) => a.releasedAt! - b.releasedAt! || compareEntries(a, b))[0];
      if (released) {
        entries.delete(key(released.mesh, released.service));
        ip = ipToInt(released.ip)!;
      }
    }
    if (ip === undefined) {
      exhausted.push(m);
      continue;
    }
    used.add(ip);
    entries.set(key(m.mesh, m.service), { mesh: m.mesh, service: m.service, ip: intToIp(ip) });
  }
  return { state: { cidr: opts.cidr, next: cursor, entries: [...entries.values()].sort(compareEntries) }, exhausted };
}

/** The live VIP tables (released entries left out): mesh -> service -> ip, both sorted. */
export function liveTables(state: VipState): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const e of state.entries) {
    if (e.releasedAt !== undefined) continue;
    let t = out.get(e.mesh);
    if (!t) out.set(e.mesh, (t = new Map()));
    t.set(e.service, e.ip);
  }
  return out;
}

/** Reads a persisted state; undefined (start afresh) when it is not one of ours. */
export function parseState(json: string): VipState | undefined {
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (o === null || typeof o !== 'object') return undefined;
  const s = o as Record<string, unknown>;
  if (typeof s.cidr !== 'string' || typeof s.next !== 'number' || !Array.isArray(s.entries)) return undefined;
  const entries: VipEntry[] = [];
  for (const e of s.entries as Record<string, unknown>[]) {
    if (!e || typeof e.mesh !== 'string' || typeof e.service !== 'string' || typeof e.ip !== 'string') continue;
    const entry: VipEntry = { mesh: e.mesh, service: e.service, ip: e.ip };
    if (typeof e.releasedAt === 'number') entry.releasedAt = e.releasedAt;
    entries.push(entry);
  }
  return { cidr: s.cidr, next: s.next, entries };
}
