/** The pure CP DNS answer: A records, NODATA, NXDOMAIN, REFUSED, NOTIMP, FORMERR, the mesh-order rule, and a fuzz that must never throw. */
import crypto from 'node:crypto';
import dnsPacket from 'dns-packet';
import t from 'tap';
import { answer, RCODE } from '../../../cp/dns/answer';
import { buildNameTable } from '../../../cp/dns/name-table';

const table = buildNameTable(
  new Map([
    ['zeta', new Map([['backend', '240.0.0.9'], ['only-zeta', '240.0.0.10']])],
    ['alpha', new Map([['backend', '240.0.0.1'], ['Web', '240.0.0.2'], ['redis_default_svc_6379', '240.0.0.3'], ['bad name', '240.0.0.4'], ['v6', 'fd00::1']])],
  ]),
);

function query(name: string, type: string = 'A', extra: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name, class: 'IN' }], ...extra });
}

type Decoded = dnsPacket.DecodedPacket & { rcode: string; flag_aa: boolean; flag_rd: boolean; flag_ra: boolean };

function ask(buf: Buffer): Decoded | undefined {
  const out = answer(buf, table, { ttl: 30 });
  return out && (dnsPacket.decode(out) as Decoded);
}

t.test('known names: A with TTL, AA set, RD echoed, RA not set', async (t) => {
  const r = ask(query('backend.mesh'))!;
  t.equal(r.id, 4242);
  t.equal(r.rcode, 'NOERROR');
  t.ok(r.flag_aa);
  t.ok(r.flag_rd);
  t.notOk(r.flag_ra);
  t.same(r.answers!.map((a) => [a.type, a.name, (a as { data: string }).data, (a as { ttl?: number }).ttl]), [['A', 'backend.mesh', '240.0.0.1', 30]], 'first mesh alphabetically wins');
  t.equal((ask(query('ONLY-ZETA.Mesh.'))!.answers![0] as { data: string }).data, '240.0.0.10', 'case-insensitive, trailing dot');
  t.equal((ask(query('web.mesh'))!.answers![0] as { data: string }).data, '240.0.0.2');
  t.equal((ask(query('redis.default.svc.6379.mesh'))!.answers![0] as { data: string }).data, '240.0.0.3', 'Kubernetes-style dotted variant');
  t.equal((ask(query('redis_default_svc_6379.mesh'))!.answers![0] as { data: string }).data, '240.0.0.3');
});

t.test('NODATA for AAAA of a known name, NXDOMAIN for unknown .mesh, REFUSED elsewhere', async (t) => {
  const aaaa = ask(query('backend.mesh', 'AAAA'))!;
  t.equal(aaaa.rcode, 'NOERROR');
  t.equal(aaaa.answers!.length, 0);
  t.equal(aaaa.authorities![0].type, 'SOA');
  const nx = ask(query('unknown.mesh'))!;
  t.equal(nx.rcode, 'NXDOMAIN');
  t.equal(nx.authorities![0].type, 'SOA');
  t.equal(ask(query('v6.mesh'))!.rcode, 'NXDOMAIN', 'non-IPv4 VIPs are not served');
  t.equal(ask(query('bad name.mesh'))!.rcode, 'NXDOMAIN');
  t.equal(ask(query('mesh'))!.rcode, 'NOERROR');
  const other = ask(query('example.com'))!;
  t.equal(other.rcode, 'REFUSED');
  t.notOk(other.flag_aa);
  t.equal(ask(query('backend.mesh.example.com'))!.rcode, 'REFUSED');
});

t.test('protocol errors: NOTIMP, FORMERR, responses dropped', async (t) => {
  const q = query('backend.mesh');
  const notify = Buffer.from(q);
  notify.writeUInt16BE((notify.readUInt16BE(2) & ~(0xf << 11)) | (4 << 11), 2);
  const n = answer(notify, table)!;
  t.equal(n.readUInt16BE(2) & 0xf, RCODE.NOTIMP);
  t.equal(n.readUInt16BE(0), 4242);
  const two = dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'A', name: 'a.mesh' }, { type: 'A', name: 'b.mesh' }] });
  t.equal(answer(two, table)!.readUInt16BE(2) & 0xf, RCODE.FORMERR);
  const truncated = q.subarray(0, q.length - 3);
  t.equal(answer(truncated, table)!.readUInt16BE(2) & 0xf, RCODE.FORMERR);
  t.equal(answer(Buffer.from([1, 2, 3]), table), undefined, 'no header: dropped');
  const resp = answer(q, table)!;
  t.equal(answer(resp, table), undefined, 'never answers a response');
});

t.test('fuzz: random and mutated packets never throw', async (t) => {
  const seedQ = query('backend.mesh');
  let answered = 0;
  let bad = 0;
  for (let i = 0; i < 20_000; i++) {
    let buf: Buffer;
    if (i % 2 === 0) buf = crypto.randomBytes(i % 300);
    else {
      buf = Buffer.from(seedQ);
      for (let k = 0; k < 1 + (i % 5); k++) buf[crypto.randomInt(buf.length)] = crypto.randomInt(256);
    }
    const out = answer(buf, table);
    if (out) {
      answered++;
      if (!(out.length >= 12 && (out.readUInt16BE(2) & 0x8000) !== 0)) bad++;
    }
  }
  t.ok(answered > 1000, `answered ${answered} of 20000`);
  t.equal(bad, 0, 'every response has a header with QR set');
});
