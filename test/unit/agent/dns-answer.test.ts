import t from 'tap';
import * as dnsPacket from 'dns-packet';
import { decide } from '../../../agent/dns/answer';
import { VipTable } from '../../../agent/dns/vip-table';
import { parseResolvConf } from '../../../agent/dns/resolv-conf';

const { table, skipped } = VipTable.build({
  mesh: 'default',
  ttl: 30,
  vips: { backend: '240.0.0.1', backend_default_svc_80: '240.0.0.2', 'web.v6': 'fd00::5', broken: 'not-an-ip', 'backend.default.svc.80': '240.0.0.9' },
});

function query(name: string, type: string, opts: { id?: number; edns?: boolean; klass?: string } = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: opts.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as any, class: (opts.klass ?? 'IN') as any }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as any] : [],
  });
}
function answer(buf: Buffer) {
  const d = decide(buf, table);
  if (d.action !== 'reply') throw new Error(`expected a reply, got ${d.action}`);
  return dnsPacket.decode(d.bytes) as any;
}

t.test('the table', async (t) => {
  t.same(skipped, ['broken']);
  t.same([...table.names.keys()].sort(), ['backend.default.svc.80.mesh', 'backend.mesh', 'backend_default_svc_80.mesh', 'web.v6.mesh']);
  t.equal(table.lookup('backend.default.svc.80.mesh')?.service, 'backend.default.svc.80', "a service's own name beats another's dotted variant");
});

t.test('A for a VIP, TTL from the CP, question echoed as sent', async (t) => {
  const r = answer(query('BackEnd.Mesh', 'A', { id: 7 }));
  t.equal(r.id, 7);
  t.equal(r.rcode, 'NOERROR');
  t.equal(r.flag_aa, true);
  t.equal(r.flag_rd, true);
  t.equal(r.questions[0].name, 'BackEnd.Mesh', '0x20 case preserved');
  t.same(r.answers.map((a: any) => [a.name, a.type, a.ttl, a.data]), [['BackEnd.Mesh', 'A', 30, '240.0.0.1']]);
});

t.test("Kuma's dotted variant of a k8s-style service name", async (t) => {
  t.same(answer(query('backend_default_svc_80.mesh', 'A')).answers[0].data, '240.0.0.2');
  t.same(answer(query('backend.default.svc.80.mesh', 'A')).answers[0].data, '240.0.0.9');
});

t.test('AAAA: empty NOERROR for IPv4 VIPs, mapped for IPv6 ones', async (t) => {
  const r = answer(query('backend.mesh', 'AAAA'));
  t.equal(r.rcode, 'NOERROR');
  t.same(r.answers, []);
  const v6 = answer(query('web.v6.mesh', 'AAAA'));
  t.same(v6.answers[0].data, 'fd00::5');
  t.equal(answer(query('backend.mesh', 'TXT')).rcode, 'NOERROR');
});

t.test('unknown .mesh names are NXDOMAIN; other classes REFUSED', async (t) => {
  t.equal(answer(query('nope.mesh', 'A')).rcode, 'NXDOMAIN');
  t.equal(answer(query('mesh', 'A')).rcode, 'NXDOMAIN');
  t.equal(answer(query('backend.mesh', 'A', { klass: 'CH' })).rcode, 'REFUSED');
});

t.test('EDNS queries get an OPT back', async (t) => {
  const r = answer(query('backend.mesh', 'A', { edns: true }));
  t.equal(r.additionals.length, 1);
  t.equal(r.additionals[0].type, 'OPT');
  t.equal(r.answers[0].data, '240.0.0.1');
});

t.test('everything else is forwarded', async (t) => {
  const d = decide(query('example.com', 'A'), table);
  t.equal(d.action, 'forward');
  t.equal(decide(query('meshy.com', 'A'), table).action, 'forward');
});

t.test('hostile packets never throw', async (t) => {
  t.equal(decide(Buffer.alloc(0), table).action, 'drop');
  t.equal(decide(Buffer.alloc(11), table).action, 'drop');
  const resp = Buffer.from(query('backend.mesh', 'A'));
  resp[2] |= 0x80;
  t.equal(decide(resp, table).action, 'drop', 'responses are never answered');
  const twoQ = Buffer.from(query('a.mesh', 'A'));
  twoQ.writeUInt16BE(2, 4);
  t.equal((dnsPacket.decode((decide(twoQ, table) as any).bytes) as any).rcode, 'FORMERR');
  const notify = Buffer.from(query('a.mesh', 'A'));
  notify[2] = (notify[2] & 0x87) | (4 << 3);
  t.equal((dnsPacket.decode((decide(notify, table) as any).bytes) as any).rcode, 'NOTIMP');
  const ptr = Buffer.from(query('a.mesh', 'A'));
  ptr[12] = 0xc0;
  t.equal((dnsPacket.decode((decide(ptr, table) as any).bytes) as any).rcode, 'FORMERR');
  const truncated = query('backend.mesh', 'A').subarray(0, 20);
  t.equal((dnsPacket.decode((decide(truncated, table) as any).bytes) as any).rcode, 'FORMERR');
  // 20k random packets: no exception, every decision is one of the three
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 20_000; i++) {
    const b = Buffer.from(query('backend.mesh', 'A'));
    const n = 1 + Math.floor(rnd() * 6);
    for (let k = 0; k < n; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    const cut = rnd() < 0.3 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
    const d = decide(cut, table);
    if (!['reply', 'forward', 'drop'].includes(d.action)) t.fail('bad decision');
  }
  t.pass('fuzzed 20000 packets');
});

t.test('resolv.conf', async (t) => {
  t.same(parseResolvConf('# c\nsearch x\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:5\n'), [
    { host: '10.0.0.2', port: 53 },
    { host: 'fe80::1', port: 53 },
  ]);
});

t.test('the precomputed fast path gives the same bytes as the general path', async (t) => {
  for (const type of ['A', 'AAAA']) {
    for (const edns of [false, true]) {
      for (const rd of [true, false]) {
        const lower = dnsPacket.encode({ type: 'query', id: 513, flags: rd ? dnsPacket.RECURSION_DESIRED : 0, questions: [{ name: 'backend.mesh', type: type as any }], additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as any] : [] });
        const upper = Buffer.from(lower);
        upper[13] = 'B'.charCodeAt(0); // "Backend.mesh": misses the fast path
        const fast = (decide(lower, table) as any).bytes as Buffer;
        const slow = Buffer.from((decide(upper, table) as any).bytes as Buffer);
        slow[13] = 'b'.charCodeAt(0);
        t.same(fast, slow, `${type} edns=${edns} rd=${rd}`);
        const d = dnsPacket.decode(fast) as any;
        t.equal(d.id, 513);
        t.equal(d.flag_rd, rd);
      }
    }
  }
});
