import t from 'tap';
import * as dnsPacket from 'dns-packet';
import { decide } from '../../../agent/dns/answer';
import { fastAnswer, keyOf, wireOf } from '../../../agent/dns/fast-path';
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

/** The general path's reply bytes (answer.ts), the reference for the fast path. */
function general(buf: Buffer): Buffer {
  const d = decide(buf, table);
  if (d.action !== 'reply') throw new Error(`expected a reply, got ${d.action}`);
  return d.bytes;
}

t.test('fast path: the same bytes as the general path for every plain A/AAAA question', async (t) => {
  let n = 0;
  for (const name of ['backend.mesh', 'BackEnd.MESH', 'BACKEND.MESH', 'backend_default_svc_80.mesh', 'Backend.Default.Svc.80.Mesh', 'web.v6.mesh', 'WEB.v6.mesh']) {
    for (const type of ['A', 'AAAA']) {
      for (const edns of [false, true]) {
        for (const rd of [true, false]) {
          for (const id of [0, 1, 0xbeef, 0xffff]) {
            const q = dnsPacket.encode({
              type: 'query',
              id,
              flags: rd ? dnsPacket.RECURSION_DESIRED : 0,
              questions: [{ name, type: type as any, class: 'IN' }],
              additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as any] : [],
            });
            const fast = fastAnswer(q, table.fast);
            if (!fast) {
              t.fail(`fast path declined ${name} ${type} edns=${edns} rd=${rd}`);
              continue;
            }
            if (!fast.equals(general(q))) t.fail(`bytes differ for ${name} ${type} edns=${edns} rd=${rd} id=${id}`);
            const d = dnsPacket.decode(fast) as any;
            if (d.id !== id || d.flag_rd !== rd || d.questions[0].name !== name) t.fail(`ID, RD or question not echoed for ${name} ${id}`);
            n++;
          }
        }
      }
    }
  }
  t.equal(n, 7 * 2 * 2 * 2 * 4, 'every variant answered by the fast path with identical bytes');
  const v6 = dnsPacket.decode(fastAnswer(query('Web.V6.mesh', 'AAAA', { id: 9 }), table.fast)!) as any;
  t.same(v6.answers.map((a: any) => [a.name, a.type, a.ttl, a.data]), [['Web.V6.mesh', 'AAAA', 30, 'fd00::5']]);
});

t.test('fast path: declines everything that is not a plain A/AAAA for a known name', async (t) => {
  const declines = (b: Buffer, why: string) => t.equal(fastAnswer(b, table.fast), undefined, why);
  declines(query('backend.mesh', 'TXT'), 'other qtypes');
  declines(query('backend.mesh', 'ANY'), 'ANY');
  declines(query('backend.mesh', 'SRV'), 'SRV');
  declines(query('backend.mesh', 'A', { klass: 'CH' }), 'class CH');
  declines(query('nope.mesh', 'A'), 'unknown .mesh name');
  declines(query('backend.mesh.example.com', 'A'), 'a longer name with the same prefix');
  declines(query('backend', 'A'), 'a shorter name');
  declines(query('example.com', 'A'), 'names to forward');
  const resp = Buffer.from(query('backend.mesh', 'A'));
  resp[2] |= 0x80;
  declines(resp, 'a response');
  const notify = Buffer.from(query('backend.mesh', 'A'));
  notify[2] |= 4 << 3;
  declines(notify, 'opcode NOTIFY');
  const twoQ = Buffer.from(query('backend.mesh', 'A'));
  twoQ[5] = 2;
  declines(twoQ, 'two questions');
  const withAnswer = Buffer.from(query('backend.mesh', 'A'));
  withAnswer[7] = 1;
  declines(withAnswer, 'an answer record in a query');
  const ptr = Buffer.from(query('backend.mesh', 'A'));
  ptr[12] = 0xc0;
  declines(ptr, 'a compression pointer in the question');
  const tsigLike = dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'backend.mesh', type: 'A' }], additionals: [{ type: 'A', name: 'x', ttl: 1, data: '1.2.3.4' } as any] });
  declines(tsigLike, 'an additional record that is not OPT');
  const twoAdd = dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'backend.mesh', type: 'A' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 512 } as any, { type: 'OPT', name: '.', udpPayloadSize: 512 } as any] });
  declines(twoAdd, 'two additional records');
  const full = query('backend.mesh', 'A', { edns: true });
  for (let len = 0; len < full.length; len++) {
    const cut = full.subarray(0, len);
    if (fastAnswer(cut, table.fast) !== undefined) t.fail(`answered a query truncated to ${len} bytes`);
  }
  t.pass('every truncation of an EDNS query declined');
});

t.test('fast path: random corruptions are either declined or answered exactly like the general path', async (t) => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const bases = [query('backend.mesh', 'A'), query('BACKEND.mesh', 'AAAA', { edns: true }), query('web.v6.mesh', 'AAAA'), query('backend_default_svc_80.mesh', 'A', { edns: true })];
  let answered = 0;
  for (let i = 0; i < 30_000; i++) {
    const b = Buffer.from(bases[i % bases.length]);
    const n = 1 + Math.floor(rnd() * 3);
    for (let k = 0; k < n; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    const cut = rnd() < 0.2 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
    const fast = fastAnswer(cut, table.fast);
    if (fast === undefined) continue;
    answered++;
    const d = decide(cut, table);
    if (d.action !== 'reply' || !d.bytes.equals(fast)) {
      t.fail(`fast and general paths disagree on ${cut.toString('hex')}`);
      break;
    }
  }
  t.ok(answered > 1000, `${answered} corrupted packets still answerable, all identical to the general path`);
});

t.test('fast path: names whose hashes collide are still told apart', async (t) => {
  // Find two service names with the same 30-bit folded hash (a birthday search), so the
  // collision chain is exercised for real rather than assumed.
  const seen = new Map<number, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; i < 400_000 && !pair; i++) {
    const name = `s${((i * 2654435761) >>> 0).toString(36)}.mesh`;
    const key = keyOf(name);
    const other = seen.get(key);
    if (other) pair = [other, name];
    else seen.set(key, name);
  }
  if (!pair) return t.fail('no colliding pair found');
  const [a, b] = pair.map((n) => n.replace(/\.mesh$/, ''));
  const { table: tb } = VipTable.build({ mesh: 'default', ttl: 5, vips: { [a]: '240.1.0.1', [b]: '240.1.0.2' } });
  t.equal([...tb.fast.values()].find((l) => l.length === 2)?.length, 2, `${a} and ${b} share one bucket`);
  for (const [svc, ip] of [[a, '240.1.0.1'], [b, '240.1.0.2']]) {
    const r = dnsPacket.decode(fastAnswer(query(`${svc.toUpperCase()}.mesh`, 'A'), tb.fast)!) as any;
    t.equal(r.answers[0].data, ip, `${svc} answers its own VIP`);
  }
});

t.test('fast path: the index follows the table it was built with', async (t) => {
  const before = VipTable.build({ mesh: 'default', ttl: 30, vips: { web: '240.0.0.7' } }).table;
  const after = VipTable.build({ mesh: 'default', ttl: 30, vips: { web: '240.0.0.70', api: '240.0.0.8' } }).table;
  const ip = (tb: VipTable, name: string) => {
    const r = fastAnswer(query(name, 'A'), tb.fast);
    return r && (dnsPacket.decode(r) as any).answers[0].data;
  };
  t.equal(ip(before, 'web.mesh'), '240.0.0.7');
  t.equal(ip(before, 'api.mesh'), undefined);
  t.equal(ip(after, 'web.mesh'), '240.0.0.70');
  t.equal(ip(after, 'api.mesh'), '240.0.0.8');
  t.equal(VipTable.empty().fast.size, 0);
  t.same([...wireOf('a.bc.mesh')], [1, 97, 2, 98, 99, 4, 109, 101, 115, 104, 0]);
});
