/**
 * The native DNS fast path (native/kuma_dns.c) against the JavaScript one (fast-path.ts),
 * which is the reference: the same table, the same packets, the same bytes out (or the
 * same refusal) for every variant of every name, for thousands of corrupted packets and
 * for random bytes. Also the table format's checks. The addon must be built (npm ci
 * builds it; the build says why when it cannot): without it this test fails.
 */
import t from 'tap';
import * as dnsPacket from 'dns-packet';
import { fastAnswer } from '../../../agent/dns/fast-path';
import { loadNativeDns, serializeFastIndex, type NativeDnsBinding } from '../../../agent/dns/native';
import { VipTable } from '../../../agent/dns/vip-table';

const { binding, reason } = loadNativeDns();
if (!binding) throw new Error(`the native DNS addon is not available: ${reason}`);
const native: NativeDnsBinding = binding;

// Many names, so the native table's probe chains and the JS index's hash lists both get
// exercised; IPv4 and IPv6 VIPs; k8s-style names with their dotted variants.
const vips: Record<string, string> = { 'web.v6': 'fd00::5', payments_prod_svc_8080: '240.0.0.3', x: '240.0.0.4' };
for (let i = 0; i < 3000; i++) vips[`svc-${i}`] = i % 7 === 0 ? `fd00::${(i + 16).toString(16)}` : `240.0.${i >> 8}.${i & 0xff}`;
const table = VipTable.build({ mesh: 'default', ttl: 30, vips }).table;
const nativeTable = native.tableCreate(serializeFastIndex(table.fast));

function query(name: string, type: string, o: { id?: number; rd?: boolean; edns?: boolean } = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: o.id ?? 0x2a2a,
    flags: o.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as any, class: 'IN' }],
    additionals: o.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as any] : [],
  });
}

/** Both paths on one packet: equal bytes, or both decline. Returns whether they agreed. */
function same(packet: Buffer): { agree: boolean; js?: Buffer; nat: Buffer | null } {
  const js = fastAnswer(packet, table.fast);
  const nat = native.answer(nativeTable, packet);
  const agree = js === undefined ? nat === null : nat !== null && js.equals(nat);
  return { agree, js, nat };
}

let seed = 7;
const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const randomCase = (s: string) => [...s].map((c) => (rnd() < 0.5 ? c.toUpperCase() : c)).join('');

t.test('every name, type, EDNS and RD variant: the same bytes as the JS path', async (t) => {
  let answered = 0;
  let disagreements = 0;
  const names = [...table.names.keys()];
  for (const name of names) {
    for (const type of ['A', 'AAAA']) {
      for (const edns of [false, true]) {
        const p = query(randomCase(name), type, { id: Math.floor(rnd() * 65536), rd: rnd() < 0.5, edns });
        const r = same(p);
        if (!r.agree) disagreements++;
        if (r.nat) answered++;
      }
    }
  }
  t.equal(disagreements, 0, 'no packet answered differently');
  t.equal(answered, names.length * 4, 'every variant of every name answered natively');
  const r = native.answer(nativeTable, query('PayMents.Prod.Svc.8080.Mesh', 'A', { id: 0xbeef }));
  const d = dnsPacket.decode(r!) as any;
  t.equal(d.id, 0xbeef, 'ID patched in');
  t.equal(d.questions[0].name, 'PayMents.Prod.Svc.8080.Mesh', 'the name as sent (0x20)');
  t.same(d.answers.map((a: any) => [a.name, a.ttl, a.data]), [['PayMents.Prod.Svc.8080.Mesh', 30, '240.0.0.3']]);
});

t.test('what the fast path leaves to the general path, the native one leaves too', async (t) => {
  const declined = [
    query('nope.mesh', 'A'),
    query('svc-1.mesh', 'TXT'),
    query('svc-1.mesh', 'ANY'),
    query('svc-1.mesh.', 'MX'),
    dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'svc-1.mesh', type: 'A', class: 'CH' as any }] }),
    dnsPacket.encode({ type: 'response', id: 1, flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: [{ name: 'svc-1.mesh', type: 'A' }] }),
    dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'svc-1.mesh', type: 'A' }, { name: 'svc-2.mesh', type: 'A' }] }),
  ];
  for (const [i, p] of declined.entries()) {
    const r = same(p);
    t.ok(r.agree && r.nat === null, `packet ${i}: declined by both`);
  }
});

t.test('30,000 corrupted queries and 5,000 random packets: never a different answer', async (t) => {
  const bases = [query('svc-42.mesh', 'A', { edns: true }), query('SVC-7.mesh', 'AAAA'), query('payments.prod.svc.8080.mesh', 'A', { edns: true }), query('x.mesh', 'A')];
  let disagreements = 0;
  let answered = 0;
  let first = '';
  for (let i = 0; i < 30_000; i++) {
    const b = Buffer.from(bases[i % bases.length]);
    for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    const p = rnd() < 0.25 ? b.subarray(0, Math.floor(rnd() * b.length)) : rnd() < 0.1 ? Buffer.concat([b, Buffer.alloc(Math.floor(rnd() * 40), 0xab)]) : b;
    const r = same(p);
    if (r.nat) answered++;
    if (!r.agree) {
      disagreements++;
      first ||= p.toString('hex');
    }
  }
  for (let i = 0; i < 5000; i++) {
    const p = Buffer.alloc(Math.floor(rnd() * 80));
    for (let j = 0; j < p.length; j++) p[j] = Math.floor(rnd() * 256);
    if (!same(p).agree) disagreements++;
  }
  t.equal(disagreements, 0, `no disagreement${first ? ` (first: ${first})` : ''}`);
  t.ok(answered > 1000, `corruptions that keep the query valid are answered (${answered})`);
});

t.test('an empty table answers nothing', async (t) => {
  const empty = native.tableCreate(serializeFastIndex(VipTable.empty().fast));
  t.equal(native.answer(empty, query('svc-1.mesh', 'A')), null);
});

t.test('a malformed table is refused with the reason', async (t) => {
  const good = serializeFastIndex(VipTable.build({ mesh: 'm', ttl: 5, vips: { a: '240.0.0.1' } }).table.fast);
  t.throws(() => native.tableCreate(Buffer.alloc(2)), { code: 'ERR_DNS_TABLE', message: /expected at least the 4-byte count/ });
  t.throws(() => native.tableCreate(good.subarray(0, 4 + 2 + 8)), { code: 'ERR_DNS_TABLE', message: /ends inside an entry \(14 bytes\)/ });
  t.throws(() => native.tableCreate(good.subarray(0, good.length - 1)), { code: 'ERR_DNS_TABLE', message: /entry 0: reply 3 length \d+ \(valid: \d+-1024 within the input\)/ });
  t.throws(() => native.tableCreate(Buffer.concat([good, Buffer.alloc(3)])), { code: 'ERR_DNS_TABLE', message: /3 bytes left over after 1 entries/ });
  const badCount = Buffer.from(good);
  badCount.writeUInt32BE(1_000_000, 0);
  t.throws(() => native.tableCreate(badCount), { code: 'ERR_DNS_TABLE', message: /count 1000000 does not fit/ });
  const badName = Buffer.from(good);
  badName.writeUInt16BE(300, 4);
  t.throws(() => native.tableCreate(badName), { code: 'ERR_DNS_TABLE', message: /entry 0: name length 300 \(valid: 2-255/ });
  t.throws(() => native.tableCreate('nope' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.ok(native.answer(native.tableCreate(good), query('A.mesh', 'A')), 'the intact table works');
});
