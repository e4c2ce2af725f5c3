/**
 * What to do with one DNS query: answer it from the VIP table (authoritative for
 * `.mesh`), forward it upstream, or refuse it. This is the general path and the
 * reference for fast-path.ts, which answers the common case from precomputed bytes. Pure.
 */
import { VipTable } from './vip-table';
import { buildErrorReply, buildReply, CLASS_IN, parseQuery, QType, Rcode, type ParsedQuery } from './wire';

/** The decision for one packet. */
export type Decision =
  | { action: 'reply'; bytes: Buffer; rcode: number }
  | { action: 'forward'; query: ParsedQuery }
  | { action: 'drop' };

/** Decides for one raw query. */
export function decide(packet: Buffer, table: VipTable): Decision {
  const p = parseQuery(packet);
  if (!p.ok) {
    if ('drop' in p) return { action: 'drop' };
    return { action: 'reply', bytes: buildErrorReply(p.id, p.rd, p.rcode), rcode: p.rcode };
  }
  const q = p.query;
  if (!VipTable.inMeshDomain(q.name)) return { action: 'forward', query: q };
  if (q.qclass !== CLASS_IN) return reply(packet, q, Rcode.REFUSED);
  const rec = table.lookup(q.name);
  if (!rec) return reply(packet, q, Rcode.NXDOMAIN);
  // A name that exists answers NOERROR for every type; only A/AAAA/ANY carry records.
  const answers: Buffer[] = [];
  if ((q.qtype === QType.A || q.qtype === QType.ANY) && rec.a) answers.push(rec.a);
  if ((q.qtype === QType.AAAA || q.qtype === QType.ANY) && rec.aaaa) answers.push(rec.aaaa);
  return reply(packet, q, Rcode.NOERROR, answers);
}

function reply(packet: Buffer, q: ParsedQuery, rcode: number, answers: Buffer[] = []): Decision {
  return { action: 'reply', bytes: buildReply(packet, q, rcode, true, answers), rcode };
}
