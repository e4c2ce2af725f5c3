/**
 * The hot path of kuma-dp's DNS server: an A or AAAA query for a `.mesh` name that the
 * VIP table knows, answered without building a string or an object. The question name
 * is hashed straight from the packet bytes (ASCII case folded, RFC 4343), looked up in
 * an index built once per VIP table, and the reply is a copy of a precomputed message
 * with the query's ID, RD bit and name bytes patched in (the name as sent, so 0x20 case
 * randomisation survives). Anything else, or anything unusual (opcode, counts, a
 * compression pointer, an additional record that is not a bare OPT, a truncated
 * question), returns `undefined` and takes the general path in answer.ts, which is the
 * reference behaviour: the unit tests check that both give the same bytes. Pure.
 */
import { buildReply, CLASS_IN, QType, Rcode, type ParsedQuery } from './wire';

/** One name's precomputed replies, by slot: A, A+EDNS, AAAA, AAAA+EDNS (ID 0, RD clear). */
export interface FastEntry {
  /** The name in wire form, lower case, root label included. */
  readonly wire: Buffer;
  readonly replies: readonly [Buffer, Buffer, Buffer, Buffer];
}

/** Lookup structure of the fast path: folded-name hash -> entries with that hash. */
export type FastIndex = ReadonlyMap<number, readonly FastEntry[]>;

// FNV-1a, 32 bit. Masked to 30 bits so the keys stay small integers (V8 Smis): a Map
// keyed by Smis needs no heap number per lookup.
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
const KEY_MASK = 0x3fffffff;

/** The wire form of a dotted name (labels already checked by the table builder). */
export function wireOf(name: string): Buffer {
  const labels = name.split('.');
  const out = Buffer.alloc(name.length + 2);
  let pos = 0;
  for (const l of labels) {
    out[pos++] = l.length;
    pos += out.write(l, pos, 'latin1');
  }
  out[pos] = 0;
  return out;
}

/** The index key of a dotted name (exported for the collision test). */
export function keyOf(name: string): number {
  return foldedHash(wireOf(name));
}

/** Hash of a wire name with ASCII letters folded to lower case; the same walk as fastAnswer. */
function foldedHash(wire: Buffer): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < wire.length; i++) {
    let b = wire[i];
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    h = Math.imul(h ^ b, FNV_PRIME);
  }
  return h & KEY_MASK;
}

/**
 * Builds the index for `names` (lower-cased dotted name -> its A and AAAA records, either
 * possibly absent). Each reply is produced once by the general reply builder, so the fast
 * path cannot drift from it.
 */
export function buildFastIndex(names: Iterable<[string, { a?: Buffer; aaaa?: Buffer }]>): FastIndex {
  const index = new Map<number, FastEntry[]>();
  for (const [name, rec] of names) {
    const wire = wireOf(name);
    const reply = (qtype: number, rr: Buffer | undefined, edns: boolean): Buffer => {
      const query = Buffer.alloc(12 + wire.length + 4);
      wire.copy(query, 12);
      query.writeUInt16BE(qtype, 12 + wire.length);
      query.writeUInt16BE(CLASS_IN, 14 + wire.length);
      const q: ParsedQuery = { id: 0, rd: false, name, qtype, qclass: CLASS_IN, questionEnd: query.length, edns };
      return buildReply(query, q, Rcode.NOERROR, true, rr ? [rr] : []);
    };
    const entry: FastEntry = {
      wire,
      replies: [reply(QType.A, rec.a, false), reply(QType.A, rec.a, true), reply(QType.AAAA, rec.aaaa, false), reply(QType.AAAA, rec.aaaa, true)],
    };
    const key = foldedHash(wire);
    const list = index.get(key);
    if (list) list.push(entry);
    else index.set(key, [entry]);
  }
  return index;
}

/**
 * The reply to `packet` when it is a plain A/AAAA query (optionally with one EDNS OPT
 * record) for a name in `index`; `undefined` sends the packet down the general path.
 * Reads only within `packet.length`; never throws.
 */
export function fastAnswer(packet: Buffer, index: FastIndex): Buffer | undefined {
  const n = packet.length;
  // Header (12) + at least a one-label name (3) + QTYPE + QCLASS.
  if (n < 19) return undefined;
  // QR = 0 (a query) and OPCODE = 0 (QUERY); one question, no answer or authority records,
  // at most one additional record (the OPT of an EDNS query).
  if ((packet[2] & 0xf8) !== 0) return undefined;
  if (packet[4] !== 0 || packet[5] !== 1 || packet[6] !== 0 || packet[7] !== 0 || packet[8] !== 0 || packet[9] !== 0 || packet[10] !== 0) return undefined;
  const ar = packet[11];
  if (ar > 1) return undefined;
  let h = FNV_OFFSET;
  let pos = 12;
  for (;;) {
    if (pos >= n) return undefined;
    const len = packet[pos];
    if (len === 0) break;
    // Labels are at most 63 bytes; 0xC0 pointers and the reserved forms take the slow path.
    if (len > 63) return undefined;
    const end = pos + 1 + len;
    if (end > n) return undefined;
    h = Math.imul(h ^ len, FNV_PRIME);
    for (let i = pos + 1; i < end; i++) {
      let b = packet[i];
      if (b >= 0x41 && b <= 0x5a) b |= 0x20;
      h = Math.imul(h ^ b, FNV_PRIME);
    }
    pos = end;
  }
  h = Math.imul(h, FNV_PRIME); // the root label (0)
  const nameEnd = pos + 1;
  const qEnd = nameEnd + 4;
  if (qEnd > n) return undefined;
  // QCLASS IN; QTYPE A (slot 0) or AAAA (slot 2).
  if (packet[nameEnd + 2] !== 0 || packet[nameEnd + 3] !== CLASS_IN || packet[nameEnd] !== 0) return undefined;
  const qtype = packet[nameEnd + 1];
  let slot = qtype === QType.A ? 0 : qtype === QType.AAAA ? 2 : -1;
  if (slot < 0) return undefined;
  if (ar === 1) {
    // An OPT RR right after the question: root owner name, TYPE 41 (RFC 6891 §6.1.2).
    if (qEnd + 11 > n || packet[qEnd] !== 0 || packet[qEnd + 1] !== 0 || packet[qEnd + 2] !== QType.OPT) return undefined;
    slot++;
  }
  const list = index.get(h & KEY_MASK);
  if (list === undefined) return undefined;
  const nameLen = nameEnd - 12;
  for (let e = 0; e < list.length; e++) {
    const wire = list[e].wire;
    if (wire.length !== nameLen || !foldedEqual(packet, wire)) continue;
    // Buffer.from(Uint8Array) is one pooled allocation plus a native set, and a byte loop
    // patches the few query bytes faster than Buffer#copy's call overhead (a quarter of
    // this function's time when measured).
    const out = Buffer.from(list[e].replies[slot]);
    out[0] = packet[0];
    out[1] = packet[1];
    out[2] |= packet[2] & 0x01; // RD echoed (RFC 1035 §4.1.1)
    for (let i = 12; i < nameEnd; i++) out[i] = packet[i]; // the name as sent
    return out;
  }
  return undefined;
}

/** `packet` from offset 12 equals `wire` (lower case) with ASCII case folded. */
function foldedEqual(packet: Buffer, wire: Buffer): boolean {
  for (let i = 0; i < wire.length; i++) {
    let b = packet[12 + i];
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (b !== wire[i]) return false;
  }
  return true;
}
