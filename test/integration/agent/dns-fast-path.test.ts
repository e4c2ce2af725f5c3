/**
 * kuma-dp's DNS fast path (agent/dns/fast-path.ts) on a real socket, asked by the real
 * dig (bind9) and kdig (knot): names in any case with the case echoed, the query ID
 * echoed, A/AAAA and the types the fast path leaves to the general path, EDNS and plain
 * queries, truncated and corrupted packets that must not crash or stall the server, and
 * a VIP table change that the very next query sees.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { promisify } from 'node:util';
import * as dnsPacket from 'dns-packet';
import { DnsServer, type DnsFastPath } from '../../../agent/dns/dns-server';
import { VipTable } from '../../../agent/dns/vip-table';
import { agentMetrics, AgentMetric } from '../../../agent/admin/metrics';
import { silentLogger } from '../../../lib/logger';

const run = promisify(execFile);

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=2', ...args], { timeout: 10_000 });
  return stdout;
}

async function kdig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('kdig', ['@127.0.0.1', '-p', String(port), '+timeout=2', '+retry=1', ...args], { timeout: 10_000 });
  return stdout;
}

const table = (vips: Record<string, string>, ttl = 30) => VipTable.build({ mesh: 'default', ttl, vips }).table;

/** Both fast paths: the native worker (the default where built) and JavaScript alone. */
const FAST_PATHS = ['native', 'js'] as const;

async function startServer(t: any, fastPath: DnsFastPath) {
  const metrics = agentMetrics();
  const server = new DnsServer({ address: '127.0.0.1', port: 0, upstreams: [], metrics, log: silentLogger(), fastPath });
  await server.start();
  t.equal(server.fastPath, fastPath, `the ${fastPath} fast path answers`);
  t.teardown(() => server.close());
  server.setTable(table({ backend: '240.0.0.1', 'web.v6': 'fd00::5', payments_prod_svc_8080: '240.0.0.3' }));
  return { server, metrics, port: server.port };
}

/** One raw UDP exchange: sends `bytes`, returns the first reply or undefined after `ms`. */
async function exchange(port: number, bytes: Buffer, ms = 1000): Promise<Buffer | undefined> {
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    return await new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), ms);
      sock.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      sock.send(bytes, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

function query(name: string, type: string, id: number, edns = false): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as any, class: 'IN' }],
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as any] : [],
  });
}

for (const fastPath of FAST_PATHS) {
  t.test(`names in any case, the case and the ID echoed (${fastPath} fast path)`, async (t) => {
    const { port, metrics } = await startServer(t, fastPath);
    for (const name of ['backend.mesh', 'BACKEND.MESH', 'bAcKeNd.MeSh', 'Payments.Prod.Svc.8080.mesh', 'payments_prod_svc_8080.MESH']) {
      const out = await dig(port, name, 'A');
      t.match(out, /status: NOERROR/, `${name}: NOERROR`);
      t.match(out, /flags: qr aa rd ra;/, `${name}: authoritative, RD echoed`);
      const ip = name.toLowerCase().startsWith('payments') ? '240.0.0.3' : '240.0.0.1';
      t.match(out, new RegExp(`^${name.replace(/\./g, '\\.')}\\.\\s+30\\s+IN\\s+A\\s+${ip.replace(/\./g, '\\.')}$`, 'm'), `${name}: answer under the name as asked`);
      t.match(out, new RegExp(`^;${name.replace(/\./g, '\\.')}\\.\\s+IN\\s+A$`, 'm'), `${name}: question echoed as sent`);
    }
    // dig discards a reply whose ID differs (and would time out); check it on the wire too.
    for (const id of [0, 1, 0x1234, 0xbeef, 0xffff]) {
      const reply = await exchange(port, query('BackEnd.mesh', 'A', id));
      const d = dnsPacket.decode(reply!) as any;
      t.equal(d.id, id, `ID ${id} echoed`);
      t.equal(d.questions[0].name, 'BackEnd.mesh');
      t.equal(d.answers[0].data, '240.0.0.1');
    }
    const k = await kdig(port, 'BackEnd.Mesh', 'A');
    t.match(k, /status: NOERROR/);
    t.match(k, /backend\.mesh\.\s+30\s+IN\s+A\s+240\.0\.0\.1/i, 'kdig (which lower-cases the name itself): answered');
    t.equal(metrics.get(AgentMetric.dnsQueries, { rcode: 'NOERROR' }), 11, 'every answer counted once');
  });

  t.test(`AAAA, other types, EDNS and plain queries (${fastPath} fast path)`, async (t) => {
    const { port } = await startServer(t, fastPath);
    const aaaa4 = await dig(port, 'backend.mesh', 'AAAA');
    t.match(aaaa4, /status: NOERROR/);
    t.match(aaaa4, /ANSWER: 0,/, 'AAAA of an IPv4 VIP: no data, not NXDOMAIN');
    t.equal((await dig(port, '+short', 'WEB.v6.mesh', 'AAAA')).trim(), 'fd00::5', 'AAAA of an IPv6 VIP');
    t.match(await dig(port, 'web.v6.mesh', 'A'), /ANSWER: 0,/, 'A of an IPv6 VIP: no data');
    for (const type of ['TXT', 'MX', 'SRV', 'CNAME']) {
      const out = await dig(port, 'backend.mesh', type);
      t.match(out, /status: NOERROR/, `${type}: the name exists (general path)`);
      t.match(out, /ANSWER: 0,/, `${type}: no records`);
    }
    t.equal((await dig(port, '+short', 'backend.mesh', 'ANY')).trim(), '240.0.0.1', 'ANY carries the A record');
    t.match(await dig(port, 'missing.mesh', 'A'), /status: NXDOMAIN/, 'unknown name: NXDOMAIN');
    t.match(await dig(port, 'backend.mesh', 'A', '-c', 'CH'), /status: REFUSED/, 'class CH refused');

    // dig sends EDNS (with a cookie option) by default: the reply carries an OPT.
    const edns = await dig(port, 'backend.mesh', 'A');
    t.match(edns, /OPT PSEUDOSECTION:\n; EDNS: version: 0, flags:; udp: 1232/, 'EDNS reply');
    const plain = await dig(port, '+noedns', 'backend.mesh', 'A');
    t.notMatch(plain, /OPT PSEUDOSECTION/, '+noedns: no OPT back');
    t.match(plain, /240\.0\.0\.1/);
    t.match(await kdig(port, '+edns=0', '+nsid', 'backend.mesh', 'A'), /EDNS PSEUDOSECTION:[\s\S]*240\.0\.0\.1/, 'kdig with EDNS options');
    t.match(await kdig(port, '+noedns', 'backend.mesh', 'AAAA'), /status: NOERROR/);
    t.match(await dig(port, '+tcp', 'Backend.Mesh', 'A'), /Backend\.Mesh\.\s+30\s+IN\s+A\s+240\.0\.0\.1/, 'TCP takes the fast path too');
  });

  t.test(`truncated, corrupted and answer-shaped packets: no crash, no reply loop, next query answered (${fastPath} fast path)`, async (t) => {
    const { port, metrics } = await startServer(t, fastPath);
    const base = query('backend.mesh', 'A', 0x4242, true);
    // every truncation of an EDNS query: a FORMERR or silence, never an answer
    for (let len = 0; len < base.length; len++) {
      const reply = await exchange(port, base.subarray(0, len), len < 12 ? 100 : 1000);
      if (len < 12) {
        if (reply) t.fail(`replied to a ${len}-byte packet`);
        continue;
      }
      const d = reply && (dnsPacket.decode(reply) as any);
      // A cut inside the header's question is FORMERR; a cut inside the OPT leaves a whole
      // question, which the general path answers without EDNS (the fast path declines it).
      if (len < 12 + 14 + 4) {
        if (!d || d.rcode !== 'FORMERR') t.fail(`${len} bytes: expected FORMERR, got ${d ? d.rcode : 'nothing'}`);
      } else if (!d || d.id !== 0x4242) t.fail(`${len} bytes: no reply`);
    }
    t.pass('every truncation handled');
    // a response (QR set) is never answered, so two servers can never ping-pong
    const resp = Buffer.from(base);
    resp[2] |= 0x80;
    t.equal(await exchange(port, resp, 300), undefined, 'responses are dropped');
    // corrupted copies, fired without waiting
    const sock = dgram.createSocket('udp4');
    t.teardown(() => sock.close());
    let seed = 3;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(base);
      for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      sent.push(new Promise((r) => sock.send(rnd() < 0.3 ? b.subarray(0, Math.floor(rnd() * b.length)) : b, port, '127.0.0.1', r)));
    }
    await Promise.all(sent);
    // Under such a flood the kernel may drop a datagram (dig then retries and prints a
    // timeout line before the answer): the answer is the last line.
    const last = (s: string) => s.trim().split('\n').pop();
    t.equal(last(await dig(port, '+short', 'backend.mesh')), '240.0.0.1', 'answered after 2000 corrupted packets');
    t.equal(last(await kdig(port, '+short', 'BACKEND.mesh')), '240.0.0.1');
    t.ok(metrics.get(AgentMetric.dnsMalformed) > 0, 'malformed packets counted');
  });

  t.test(`a VIP table change is seen by the very next query (${fastPath} fast path)`, async (t) => {
    const { server, port } = await startServer(t, fastPath);
    t.equal((await dig(port, '+short', 'backend.mesh')).trim(), '240.0.0.1');
    server.setTable(table({ backend: '240.0.0.99', added: '240.0.0.42' }, 7));
    const out = await dig(port, 'BACKEND.mesh', 'A');
    t.match(out, /BACKEND\.mesh\.\s+7\s+IN\s+A\s+240\.0\.0\.99/, 'new VIP and TTL at once');
    t.equal((await dig(port, '+short', 'added.mesh')).trim(), '240.0.0.42', 'a new name answered at once');
    t.match(await dig(port, 'web.v6.mesh', 'AAAA'), /status: NXDOMAIN/, 'a removed name is gone at once');
    t.match(await dig(port, 'payments.prod.svc.8080.mesh', 'A'), /status: NXDOMAIN/, 'its dotted variant too');
    server.setTable(VipTable.empty());
    t.match(await dig(port, 'backend.mesh', 'A'), /status: NXDOMAIN/, 'an empty table answers nothing');
  });
}

t.test('a bind address that is a host name still resolves (the socket lookup falls back to dns.lookup)', async (t) => {
  const server = new DnsServer({ address: 'localhost', port: 0, upstreams: [], metrics: agentMetrics(), log: silentLogger() });
  await server.start();
  t.teardown(() => server.close());
  t.equal(server.fastPath, 'js', 'auto: the native worker binds IP literals only, so JavaScript answers');
  server.setTable(table({ backend: '240.0.0.1' }));
  t.equal((await dig(server.port, '+short', 'backend.mesh')).trim(), '240.0.0.1');
  const strict = new DnsServer({ address: 'localhost', port: 0, upstreams: [], metrics: agentMetrics(), log: silentLogger(), fastPath: 'native' });
  await t.rejects(strict.start(), { code: 'ERR_DNS_NATIVE', message: /--dns-fast-path=native: the address localhost is not an IP literal; use auto or js/ }, 'native demanded: a clear error');
});
