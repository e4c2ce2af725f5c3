/**
 * The CP DNS server on real sockets, queried with dig (bind9) and kdig (knot): A answers
 * from the VIP allocator, NXDOMAIN, REFUSED, TCP, updates after a new Dataplane, and a
 * garbage UDP packet that does not stop the next answer.
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import t from 'tap';
import { CpDnsServer } from '../../../cp/dns/dns-server';
import { MemoryStore } from '../../../cp/store/memory-store';
import { StoreVipAllocator } from '../../../cp/vips';

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

function dig(port: number, ...args: string[]) {
  return run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args]);
}

function dp(mesh: string, name: string, service: string) {
  return { type: 'Dataplane' as const, mesh, name, spec: { networking: { address: '127.0.0.1', inbound: [{ port: 1000, servicePort: 2000, tags: { 'kuma.io/service': service } }] } } };
}

t.test('dig and kdig against the CP DNS server', async (t) => {
  const store = new MemoryStore();
  for (const m of ['default', 'other']) await store.create({ type: 'Mesh', name: m, spec: {} });
  await store.create(dp('default', 'backend-1', 'backend'));
  await store.create(dp('other', 'backend-1', 'backend'));
  await store.create(dp('other', 'web-1', 'web'));
  const vips = new StoreVipAllocator({ store, cidr: '127.64.0.0/10', debounceMs: 10 });
  await vips.start();
  t.teardown(() => vips.close());
  const dns = new CpDnsServer({ vips, port: 0, address: '127.0.0.1', ttl: 30 });
  await dns.start();
  t.teardown(() => dns.close());
  const port = dns.port;
  const backend = (await vips.table('default')).get('backend')!;
  const web = (await vips.table('other')).get('web')!;

  const a = await dig(port, 'backend.mesh', 'A', '+short');
  t.equal(a.code, 0, a.out);
  t.equal(a.out.trim(), backend, 'same-named service in two meshes: the alphabetically first mesh answers');
  t.equal((await dig(port, 'web.mesh', 'A', '+short')).out.trim(), web);

  const full = await dig(port, 'backend.mesh', 'A');
  t.match(full.out, /status: NOERROR/);
  t.match(full.out, /flags: qr aa rd;/);
  t.match(full.out, new RegExp(`backend\\.mesh\\.\\s+30\\s+IN\\s+A\\s+${backend.replace(/\./g, '\\.')}`));
  t.match((await dig(port, 'unknown.mesh', 'A')).out, /status: NXDOMAIN/);
  t.match((await dig(port, 'example.com', 'A')).out, /status: REFUSED/);
  const aaaa = await dig(port, 'backend.mesh', 'AAAA');
  t.match(aaaa.out, /status: NOERROR/);
  t.match(aaaa.out, /ANSWER: 0/);
  const tcp = await dig(port, '+tcp', 'web.mesh', 'A', '+short');
  t.equal(tcp.out.trim(), web, 'TCP on the same port');

  // kdig (knot), a second independent client; +keepopen sends two queries on one TCP connection.
  const k = await run('kdig', ['@127.0.0.1', '-p', String(port), '+tcp', '+keepopen', '+short', 'backend.mesh', 'A', 'web.mesh', 'A']);
  t.equal(k.code, 0, k.out);
  t.same(k.out.trim().split('\n'), [backend, web]);

  // A new service resolves after the allocator notices it.
  await store.create(dp('default', 'db-1', 'db'));
  const deadline = Date.now() + 5000;
  let db = '';
  while (!db && Date.now() < deadline) {
    db = (await dig(port, 'db.mesh', 'A', '+short')).out.trim();
    if (!db) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(db, (await vips.table('default')).get('db'));

  // Garbage over UDP, then a query: still answered.
  const sock = dgram.createSocket('udp4');
  t.teardown(() => sock.close());
  for (const junk of [Buffer.from('hello'), Buffer.alloc(0), Buffer.alloc(512, 0xff), Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, 1])]) {
    await new Promise<void>((r) => sock.send(junk, port, '127.0.0.1', () => r()));
  }
  const after = await dig(port, 'backend.mesh', 'A', '+short');
  t.equal(after.out.trim(), backend, 'server still answers after garbage');
  t.ok(dns.stats.queries >= 4);
});

t.test('port 0 logs the chosen port; close releases it', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const pino = (await import('pino')).default;
  const { Writable } = await import('node:stream');
  const sink = new Writable({ write(c, _e, cb) { for (const l of String(c).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
  const vips = { snapshot: () => new Map(), onChange: () => () => undefined };
  const dns = new CpDnsServer({ vips, port: 0, address: '127.0.0.1', log: pino({ level: 'info' }, sink) });
  await dns.start();
  const port = dns.port;
  t.ok(lines.some((l) => l.msg === 'DNS server listening' && l.port === port));
  await dns.close();
  const again = new CpDnsServer({ vips, port, address: '127.0.0.1' });
  await again.start();
  t.equal(again.port, port, 'port free again after close');
  await again.close();
});
