/**
 * kuma-dp's DNS server queried by the real dig and kdig: VIP answers, NXDOMAIN,
 * forwarding to a real dnsmasq upstream, TCP, garbage packets, an upstream that
 * never answers, and the VIP table fetched from a CP and served from the cache
 * when the CP is gone.
 */
import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DnsServer, type DnsFastPath } from '../../../agent/dns/dns-server';
import { VipPoller, VIPS_CACHE_FILE } from '../../../agent/dns/vip-poller';
import { VipTable } from '../../../agent/dns/vip-table';
import { agentMetrics, AgentMetric } from '../../../agent/admin/metrics';
import { silentLogger } from '../../../lib/logger';
import { CpStub } from './support/cp-stub';
import { waitFor, killIfAlive } from './support/proc';
import { onFreeUdpTcpPort } from './support/ports';

const run = promisify(execFile);

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=3', ...args], { timeout: 10_000 });
  return stdout;
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** dnsmasq in the foreground on a loopback port: the upstream for non-mesh names. */
async function startDnsmasq(t: any): Promise<number> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freeUdpPort();
    const child: ChildProcess = spawn('dnsmasq', ['--no-daemon', '--no-resolv', '--no-hosts', '--address=/example.test/127.0.0.9', '-p', String(port), '--listen-address=127.0.0.1', '--bind-interfaces', ...(process.getuid?.() === 0 ? ['--user=root'] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    t.teardown(() => killIfAlive(child.pid, 'SIGTERM'));
    const up = await waitFor(async () => {
      if (child.exitCode !== null) return true;
      try {
        const out = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=1', '+short', 'up.example.test'], { timeout: 3000 });
        return out.stdout.includes('127.0.0.9');
      } catch {
        return false;
      }
    }, 5000);
    if (up && child.exitCode === null) return port;
    killIfAlive(child.pid);
    t.comment(`dnsmasq on ${port} did not come up: ${stderr}`);
  }
  throw new Error('dnsmasq did not start');
}

const TABLE = VipTable.build({ mesh: 'default', ttl: 30, vips: { backend: '240.0.0.1', backend_default_svc_80: '240.0.0.2' } }).table;

/** Both fast paths: the native worker (the default where built) and JavaScript alone. */
const FAST_PATHS = ['native', 'js'] as const;

async function startServer(t: any, fastPath: DnsFastPath, upstreams: { host: string; port: number }[], timeoutMs = 2000) {
  const metrics = agentMetrics();
  const server = new DnsServer({ address: '127.0.0.1', port: 0, upstreams, upstreamTimeoutMs: timeoutMs, metrics, log: silentLogger(), fastPath });
  await server.start();
  t.equal(server.fastPath, fastPath, `the ${fastPath} fast path answers`);
  t.teardown(() => server.close());
  server.setTable(TABLE);
  return { server, metrics, port: server.port };
}

for (const fastPath of FAST_PATHS) {
  t.test(`answers, NXDOMAIN, forwarding, TCP, garbage (${fastPath} fast path)`, async (t) => {
    const upstream = await startDnsmasq(t);
    const { port, metrics } = await startServer(t, fastPath, [{ host: '127.0.0.1', port: upstream }]);

    t.equal((await dig(port, '+short', 'backend.mesh', 'A')).trim(), '240.0.0.1', 'VIP answer');
    const full = await dig(port, 'backend.mesh', 'A');
    t.match(full, /status: NOERROR/);
    t.match(full, /flags: qr aa rd ra/);
    t.match(full, /backend\.mesh\.\s+30\s+IN\s+A\s+240\.0\.0\.1/, 'TTL from the CP');
    t.equal((await dig(port, '+short', 'backend.default.svc.80.mesh')).trim(), '240.0.0.2', "Kuma's dotted form");
    t.equal((await dig(port, '+short', 'BACKEND.MESH')).trim(), '240.0.0.1', 'case-insensitive');

    const aaaa = await dig(port, 'backend.mesh', 'AAAA');
    t.match(aaaa, /status: NOERROR/);
    t.match(aaaa, /ANSWER: 0/);

    t.match(await dig(port, 'unknown.mesh', 'A'), /status: NXDOMAIN/, 'unknown .mesh is NXDOMAIN');

    const fwd = await dig(port, 'www.example.test', 'A');
    t.match(fwd, /status: NOERROR/);
    t.match(fwd, /www\.example\.test\.\s+\d+\s+IN\s+A\s+127\.0\.0\.9/, 'forwarded to dnsmasq');
    t.match(await dig(port, 'nothing.invalid', 'A'), /status: (NXDOMAIN|REFUSED)/, "upstream's verdict passed through");

    // TCP, with both dig and kdig
    t.equal((await dig(port, '+tcp', '+short', 'backend.mesh')).trim(), '240.0.0.1', 'dig +tcp');
    const { stdout: k } = await run('kdig', ['@127.0.0.1', '-p', String(port), '+tcp', '+timeout=2', 'backend.mesh', 'A'], { timeout: 10_000 });
    t.match(k, /NOERROR/);
    t.match(k, /240\.0\.0\.1/);
    const { stdout: k2 } = await run('kdig', ['@127.0.0.1', '-p', String(port), '+tcp', '+timeout=2', 'www.example.test', 'A'], { timeout: 10_000 });
    t.match(k2, /127\.0\.0\.9/, 'a TCP query is forwarded too');

    // garbage, then a valid query is still answered
    const sock = dgram.createSocket('udp4');
    t.teardown(() => sock.close());
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < 500; i++) {
      const len = [0, 1, 11, 12, 13, 40, 512, 1400][i % 8];
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = (i * 31 + j * 17) & 0xff;
      sent.push(new Promise((r) => sock.send(b, port, '127.0.0.1', r)));
    }
    await Promise.all(sent);
    // TCP garbage: a length prefix that lies, a tiny frame, a stalled half frame
    const liar = net.connect(port, '127.0.0.1');
    liar.on('error', () => undefined);
    liar.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
    const tiny = net.connect(port, '127.0.0.1');
    tiny.on('error', () => undefined);
    tiny.write(Buffer.from([0, 3, 1, 2, 3]));
    t.teardown(() => {
      liar.destroy();
      tiny.destroy();
    });
    // The flood can overflow the socket's receive buffer on a loaded machine, so dig's first
    // try may be dropped by the kernel (dig prints a timeout line, retries): the answer is the last line.
    t.equal((await dig(port, '+short', 'backend.mesh')).trim().split('\n').pop(), '240.0.0.1', 'answered after 500 garbage packets');
    t.equal((await dig(port, '+tcp', '+short', 'backend.mesh')).trim(), '240.0.0.1', 'TCP answered while a stalled connection is open');
    t.ok(metrics.get(AgentMetric.dnsMalformed) > 0, 'garbage counted');
    t.ok(metrics.get(AgentMetric.dnsQueries, { rcode: 'NXDOMAIN' }) >= 1);
    t.ok(metrics.get(AgentMetric.dnsQueries, { rcode: 'NOERROR' }) >= 5);
    t.ok(metrics.get(AgentMetric.dnsForwarded) >= 3);
  });

  t.test(`an upstream that never answers: SERVFAIL after the timeout, counted (${fastPath} fast path)`, async (t) => {
    const black = dgram.createSocket('udp4');
    await new Promise<void>((r) => black.bind(0, '127.0.0.1', () => r()));
    t.teardown(() => black.close());
    const { port, metrics } = await startServer(t, fastPath, [{ host: '127.0.0.1', port: black.address().port }], 300);
    const t0 = Date.now();
    t.match(await dig(port, 'slow.example.test'), /status: SERVFAIL/);
    t.ok(Date.now() - t0 >= 250);
    t.equal(metrics.get(AgentMetric.dnsUpstreamTimeouts), 1);
    t.equal((await dig(port, '+short', 'backend.mesh')).trim(), '240.0.0.1', 'mesh names unaffected');
  });

  t.test(`an upstream that is this server itself is ignored (no forwarding loop) (${fastPath} fast path)`, async (t) => {
    const metrics = agentMetrics();
    // The server's own port is its upstream, so the port must be known before it binds.
    const { port, value: server } = await onFreeUdpTcpPort(async (port) => {
      const server = new DnsServer({ address: '127.0.0.1', port, upstreams: [{ host: '127.0.0.1', port }], metrics, log: silentLogger(), fastPath });
      try {
        await server.start();
      } catch (err) {
        server.destroy();
        throw err;
      }
      return server;
    });
    t.teardown(() => server.close());
    t.match(await dig(port, 'loop.example.test'), /status: SERVFAIL/);
    t.equal(metrics.get(AgentMetric.dnsQueries, { rcode: 'SERVFAIL' }), 1, 'answered once, not bounced');
  });
}

t.test('VIP table from the CP, cached for when the CP is gone', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdp-vips-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cp = new CpStub();
  cp.vips = { status: 200, body: { mesh: 'default', ttl: 15, vips: { web: '240.0.0.7', 'db_prod_svc_5432': '240.0.0.8' } } };
  await cp.start();
  const cpUrl = new URL(cp.url);
  const metrics = agentMetrics();
  const server = new DnsServer({ address: '127.0.0.1', port: 0, upstreams: [], metrics, log: silentLogger() });
  await server.start();
  t.teardown(() => server.close());
  const poller = new VipPoller({ cpAddress: cpUrl, token: 'tok', mesh: 'default', name: 'dp-1', intervalMs: 100, workDir: dir, onTable: (tb) => server.setTable(tb), metrics, log: silentLogger() });
  await poller.start();
  t.ok(await waitFor(() => metrics.get(AgentMetric.dnsVipsRefresh, { outcome: 'ok' }) >= 1, 3000), 'fetched');
  t.equal(cp.vipsRequests[0].url, '/dns/vips?mesh=default&name=dp-1');
  t.equal(cp.vipsRequests[0].authorization, 'Bearer tok');
  t.equal((await dig(server.port, '+short', 'web.mesh')).trim(), '240.0.0.7');
  t.match(await dig(server.port, 'web.mesh'), /web\.mesh\.\s+15\s+IN\s+A/);
  t.equal((await dig(server.port, '+short', 'db.prod.svc.5432.mesh')).trim(), '240.0.0.8');
  t.match(fs.readFileSync(path.join(dir, VIPS_CACHE_FILE), 'utf8'), /240\.0\.0\.7/);
  t.equal(fs.statSync(path.join(dir, VIPS_CACHE_FILE)).mode & 0o777, 0o600);

  // the table changes at the CP
  cp.vips = { status: 200, body: { mesh: 'default', ttl: 15, vips: { web: '240.0.0.70' } } };
  t.ok(await waitFor(async () => (await dig(server.port, '+short', 'web.mesh')).trim() === '240.0.0.70', 3000), 'new VIP served');
  t.match(await dig(server.port, 'db.prod.svc.5432.mesh'), /NXDOMAIN/, 'removed service is gone');

  // the CP goes away: answers continue
  await cp.stop();
  const errorsBefore = metrics.get(AgentMetric.dnsVipsRefresh, { outcome: 'error' });
  t.ok(await waitFor(() => metrics.get(AgentMetric.dnsVipsRefresh, { outcome: 'error' }) > errorsBefore, 3000), 'fetch fails');
  t.equal((await dig(server.port, '+short', 'web.mesh')).trim(), '240.0.0.70', 'still answered with the CP down');
  await poller.close();

  // kuma-dp restarts without a CP: the cache answers
  const metrics2 = agentMetrics();
  const server2 = new DnsServer({ address: '127.0.0.1', port: 0, upstreams: [], metrics: metrics2, log: silentLogger() });
  await server2.start();
  t.teardown(() => server2.close());
  const poller2 = new VipPoller({ cpAddress: cpUrl, mesh: 'default', name: 'dp-1', intervalMs: 100, workDir: dir, onTable: (tb) => server2.setTable(tb), metrics: metrics2, log: silentLogger() });
  await poller2.start();
  t.teardown(() => poller2.close());
  t.equal((await dig(server2.port, '+short', 'web.mesh')).trim(), '240.0.0.70', 'answered from the cache after a restart without CP');
});
