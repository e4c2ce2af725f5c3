/**
 * The CP DNS answer, pure: query bytes + name table -> response bytes (or undefined to
 * drop). RFC 1035 semantics for an authoritative-only server:
 * - `<service>.mesh` A -> the VIP (AA set, TTL configurable); AAAA or other types of a
 *   known name -> NOERROR without answers (NODATA, RFC 2308 2.2), with the zone's SOA;
 * - unknown names under `.mesh` -> NXDOMAIN with the SOA (negative caching, RFC 2308 3);
 * - any other name -> REFUSED (this server is not a recursive resolver; RA is never set);
 * - non-QUERY opcodes -> NOTIMP; anything that does not parse as one question -> FORMERR
 *   when the header can be read, else dropped. Responses to responses are never sent.
 */
import dnsPacket from 'dns-packet';
import { MESH_DOMAIN, type NameTable } from './name-table';

/** Default TTL of answers, seconds. */
export const DEFAULT_DNS_TTL = 30;

/** DNS response codes used here (RFC 1035 4.1.1, RFC 6895). */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const QR = 1 << 15;
const AA = 1 << 10;
const RD = 1 << 8;
const OPCODE_QUERY = 0;

/** Options of answer(). */
export interface AnswerOptions {
  ttl?: number;
}

/** A header-only response: the query's id, opcode and RD echoed, no sections. */
function bareResponse(query: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  const qflags = query.readUInt16BE(2);
  out.writeUInt16BE(QR | (qflags & (0xf << 11)) | (qflags & RD) | rcode, 2);
  return out;
}

function soa(ttl: number): dnsPacket.Answer {
  return {
    type: 'SOA',
    name: MESH_DOMAIN,
    ttl,
    class: 'IN',
    data: { mname: 'kuma-cp.mesh', rname: 'hostmaster.mesh', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: ttl },
  } as dnsPacket.Answer;
}

/** Answers one DNS query; undefined means drop the packet (not even a header to answer). */
export function answer(query: Buffer, table: NameTable, opts: AnswerOptions = {}): Buffer | undefined {
  const ttl = opts.ttl ?? DEFAULT_DNS_TTL;
  if (query.length < 12) return undefined;
  const flags = query.readUInt16BE(2);
  if (flags & QR) return undefined; // a response: answering it could start a loop
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== OPCODE_QUERY) return bareResponse(query, RCODE.NOTIMP);
  let packet: dnsPacket.Packet;
  try {
    packet = dnsPacket.decode(query);
  } catch {
    return bareResponse(query, RCODE.FORMERR);
  }
  const questions = packet.questions ?? [];
  if (questions.length !== 1) return bareResponse(query, RCODE.FORMERR);
  const q = questions[0];
  const name = q.name.toLowerCase().replace(/\.$/, '');
  const qtype = q.type as string;
  const respond = (rcode: number, answers: dnsPacket.Answer[], authorities: dnsPacket.Answer[], authoritative: boolean): Buffer =>
    dnsPacket.encode({
      type: 'response',
      id: packet.id,
      flags: (authoritative ? AA : 0) | (flags & RD) | rcode,
      questions: [q],
      answers,
      authorities,
    });
  const inZone = name === MESH_DOMAIN || name.endsWith(`.${MESH_DOMAIN}`);
  if (!inZone || (q.class !== 'IN' && (q.class as string) !== 'ANY')) return respond(RCODE.REFUSED, [], [], false);
  const entry = table.get(name);
  if (entry) {
    if (qtype === 'A' || qtype === 'ANY') {
      return respond(RCODE.NOERROR, [{ type: 'A', name: q.name, ttl, class: 'IN', data: entry.ip }], [], true);
    }
    return respond(RCODE.NOERROR, [], [soa(ttl)], true);
  }
  if (name === MESH_DOMAIN) {
    return respond(RCODE.NOERROR, qtype === 'SOA' ? [soa(ttl)] : [], qtype === 'SOA' ? [] : [soa(ttl)], true);
  }
  return respond(RCODE.NXDOMAIN, [], [soa(ttl)], true);
}
