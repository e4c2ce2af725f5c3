/**
 * The few pieces of the DNS wire format (RFC 1035 §4.1) the agent needs on its hot
 * path: reading one question from a query and writing a reply around it. Hand-written
 * with bounds checks on every read, because these bytes come from anyone on the host:
 * a malformed packet yields `undefined` or FORMERR, never an exception.
 */

/** Response codes (RFC 1035 §4.1.1, RFC 6895). */
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** Name of an rcode for metrics. */
export function rcodeName(code: number): string {
  return (Object.keys(Rcode) as (keyof typeof Rcode)[]).find((k) => Rcode[k] === code) ?? `RCODE${code}`;
}

/** Record types used here. */
export const QType = { A: 1, AAAA: 28, ANY: 255, OPT: 41 } as const;
/** Class IN. */
export const CLASS_IN = 1;

/** One parsed query. */
export interface ParsedQuery {
  id: number;
  /** Recursion desired, echoed in the reply. */
  rd: boolean;
  /** Lower-cased name without the trailing dot ("" for the root). */
  name: string;
  qtype: number;
  qclass: number;
  /** Offset just past the question (after QTYPE and QCLASS). */
  questionEnd: number;
  /** The query carried an EDNS OPT record (RFC 6891), so the reply carries one too. */
  edns: boolean;
}

/** Why a packet cannot be answered normally. */
export type ParseOutcome =
  | { ok: true; query: ParsedQuery }
  /** Answer with this rcode and an empty body (the header was readable). */
  | { ok: false; id: number; rd: boolean; rcode: number }
  /** Not even a header, or a response: drop silently (never answer answers: no loops). */
  | { ok: false; drop: true };

/** Parses a query's header and its single question. Never throws. */
export function parseQuery(buf: Buffer): ParseOutcome {
  if (buf.length < 12) return { ok: false, drop: true };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) return { ok: false, drop: true };
  const rd = (flags & 0x0100) !== 0;
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { ok: false, id, rd, rcode: Rcode.NOTIMP };
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  if (qd !== 1) return { ok: false, id, rd, rcode: Rcode.FORMERR };
  let pos = 12;
  // Validate the labels first, then decode the whole name with one native call (a
  // per-label toString costs more than the rest of the answer path together).
  const starts: number[] = [];
  let nameLen = 0;
  for (;;) {
    if (pos >= buf.length) return { ok: false, id, rd, rcode: Rcode.FORMERR };
    const len = buf[pos];
    if (len === 0) {
      pos++;
      break;
    }
    // Compression pointers (0xC0) and the reserved 0x40/0x80 forms have no place in a question.
    if (len > 63) return { ok: false, id, rd, rcode: Rcode.FORMERR };
    nameLen += len + 1;
    if (nameLen > 254 || pos + 1 + len > buf.length) return { ok: false, id, rd, rcode: Rcode.FORMERR };
    starts.push(pos - 12);
    pos += 1 + len;
  }
  const raw = buf.toString('latin1', 12, pos);
  let name = '';
  for (let i = 0; i < starts.length; i++) {
    const s = starts[i];
    name += (i === 0 ? '' : '.') + raw.slice(s + 1, s + 1 + raw.charCodeAt(s));
  }
  name = name.toLowerCase();
  if (pos + 4 > buf.length) return { ok: false, id, rd, rcode: Rcode.FORMERR };
  const qtype = buf.readUInt16BE(pos);
  const qclass = buf.readUInt16BE(pos + 2);
  const questionEnd = pos + 4;
  // An OPT record right after the question (the usual layout: no answer/authority in a query).
  const edns =
    ar > 0 && an === 0 && ns === 0 && questionEnd + 11 <= buf.length && buf[questionEnd] === 0 && buf.readUInt16BE(questionEnd + 1) === QType.OPT;
  return { ok: true, query: { id, rd, name, qtype, qclass, questionEnd, edns } };
}

/** Our OPT record: root name, type 41, UDP payload 1232 (DNS flag day 2020), no flags. */
const OPT_RR = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);

/** Reply flags: QR, AA when authoritative, RD echoed, RA (we forward), rcode. */
function replyFlags(rd: boolean, aa: boolean, rcode: number): number {
  return 0x8000 | (aa ? 0x0400 : 0) | (rd ? 0x0100 : 0) | 0x0080 | (rcode & 0xf);
}

/**
 * A reply that echoes the query's question (bytes as sent, so 0x20 case randomisation
 * survives) followed by `answers` (pre-encoded RRs whose names point at offset 12).
 */
export function buildReply(query: Buffer, q: ParsedQuery, rcode: number, aa: boolean, answers: readonly Buffer[] = []): Buffer {
  const qLen = q.questionEnd - 12;
  let size = 12 + qLen + (q.edns ? OPT_RR.length : 0);
  for (const a of answers) size += a.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt16BE(q.id, 0);
  out.writeUInt16BE(replyFlags(q.rd, aa, rcode), 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(answers.length, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(q.edns ? 1 : 0, 10);
  query.copy(out, 12, 12, q.questionEnd);
  let pos = 12 + qLen;
  for (const a of answers) pos += a.copy(out, pos);
  if (q.edns) OPT_RR.copy(out, pos);
  return out;
}

/** A header-only error reply (FORMERR, NOTIMP) for a packet whose question could not be read. */
export function buildErrorReply(id: number, rd: boolean, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(replyFlags(rd, false, rcode), 2);
  return out;
}

/** An A record for the name at offset 12: pointer 0xC00C, TYPE, CLASS, TTL, RDLENGTH, RDATA. */
export function encodeAddressRR(ip: string, ttl: number): Buffer {
  const v4 = ip.includes('.') && !ip.includes(':');
  const rdata = v4 ? Buffer.from(ip.split('.').map(Number)) : ipv6Bytes(ip);
  const rr = Buffer.alloc(12 + rdata.length);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(v4 ? QType.A : QType.AAAA, 2);
  rr.writeUInt16BE(CLASS_IN, 4);
  rr.writeUInt32BE(ttl >>> 0, 6);
  rr.writeUInt16BE(rdata.length, 10);
  rdata.copy(rr, 12);
  return rr;
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail = ''] = ip.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const h = parse(head);
  const t = ip.includes('::') ? parse(tail) : [];
  const groups = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g & 0xffff, i * 2));
  return b;
}

/** A SERVFAIL reply to a query whose question was read. */
export function servfail(query: Buffer, q: ParsedQuery): Buffer {
  return buildReply(query, q, Rcode.SERVFAIL, false);
}
