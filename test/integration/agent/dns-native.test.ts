/**
 * What only the native DNS fast path has: a worker thread beside the event loop. Table
 * swaps while queries stream in, the hand-over of everything else to JavaScript when the
 * event loop is blocked (bounded: dropped and counted, never queued without limit), IPv6,
 * closing (the port is free again, nothing answers), and a process that exits with the
 * server still open. Real sockets, dig and separate sender processes.
 */
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as dnsPacket from 'dns-packet';
import { DnsServer } from '../../../agent/dns/dns-server';
import { VipTable } from '../../../agent/dns/vip-table';
import { agentMetrics, AgentMetric } from '../../../agent/admin/metrics';
import { silentLogger } from '../../../lib/logger';
import { exitedWithOutput } from './support/proc';

const run = promisify(execFile);
const table = (vips: Record<string, string>) => VipTable.build({ mesh: 'default', ttl: 30, vips }).table;

async function dig(server: string, port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', [`@${server}`, '-p', String(port), '+time=2', '+tries=2', ...args], { timeout: 10_000 });
  return stdout;
}

async function startNative(t: any, address = '127.0.0.1') {
  const metrics = agentMetrics();
  const server = new DnsServer({ address, port: 0, upstreams: [], metrics, log: silentLogger(), fastPath: 'native' });
  await server.start();
  t.teardown(() => server.close());
  t.equal(server.fastPath, 'native');
  return { server, metrics, port: server.port };
}

/**
 * A separate process that fires `count` A queries for `names` (round robin) and reports
 * the replies it got by `waitMs` later; with `marker`, it creates that file once it has
 * sent everything and waited 200 ms more.
 */
function sender(port: number, names: string[], count: number, waitMs: number, marker?: string): Promise<Record<string, number>> {
  const script = `
    const dgram = require('node:dgram');
    const dnsPacket = require(${JSON.stringify(require.resolve('dns-packet'))});
    const names = ${JSON.stringify(names)};
    const s = dgram.createSocket('udp4');
    const seen = {};
    s.on('message', (m) => {
      try {
        const d = dnsPacket.decode(m);
        const k = d.rcode + ' ' + (d.answers[0] ? d.answers[0].data : '-');
        seen[k] = (seen[k] || 0) + 1;
      } catch { seen.undecodable = (seen.undecodable || 0) + 1; }
    });
    s.bind(0, '127.0.0.1', async () => {
      for (let i = 0; i < ${count}; i++) {
        s.send(dnsPacket.encode({ type: 'query', id: i & 0xffff, questions: [{ name: names[i % names.length], type: 'A' }] }), ${port}, '127.0.0.1');
        if (i % 200 === 199) await new Promise((r) => setImmediate(r));
      }
      const marker = ${JSON.stringify(marker ?? '')};
      if (marker) setTimeout(() => require('node:fs').writeFileSync(marker, ''), 200);
      setTimeout(() => { process.stdout.write(JSON.stringify(seen)); s.close(); }, ${waitMs});
    });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    void exitedWithOutput(child).then(({ code }) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out));
      else reject(new Error(`sender exited ${code}`));
    });
  });
}

t.test('table swaps while queries stream in: every answer is the old or the new VIP', async (t) => {
  const { server, port } = await startNative(t);
  const a = table({ backend: '240.0.0.1' });
  const b = table({ backend: '240.0.0.2' });
  server.setTable(a);
  const swapping = setInterval(() => server.setTable(Math.random() < 0.5 ? a : b), 1);
  t.teardown(() => clearInterval(swapping));
  const seen = await sender(port, ['backend.mesh'], 20_000, 500);
  clearInterval(swapping);
  const keys = Object.keys(seen).sort();
  t.same(keys.filter((k) => !['NOERROR 240.0.0.1', 'NOERROR 240.0.0.2'].includes(k)), [], `only the two VIPs (${JSON.stringify(seen)})`);
  t.ok((seen['NOERROR 240.0.0.1'] ?? 0) > 0 && (seen['NOERROR 240.0.0.2'] ?? 0) > 0, 'both tables answered');
});

t.test('the event loop blocked: the worker keeps answering table names; the hand-over to JS is bounded and counted', async (t) => {
  const { server, port, metrics } = await startNative(t);
  server.setTable(table({ backend: '240.0.0.1' }));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dns-native-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const marker = path.join(dir, 'sent');
  const pending = sender(port, ['backend.mesh', 'nope.mesh', 'nope.mesh'], 18_000, 1500 + 200, marker);
  // Block this process's event loop until the sender has sent everything (and waited
  // 200 ms for answers): whatever it got by then, only the worker can have answered.
  const deadline = Date.now() + 20_000;
  while (!fs.existsSync(marker) && Date.now() < deadline) {
    // busy: JavaScript cannot take any datagram now
  }
  t.ok(fs.existsSync(marker), 'the sender finished while the event loop was blocked');
  const seen = await pending;
  // The sender's own receive buffer overflows at this rate, so not every answer arrives.
  t.ok((seen['NOERROR 240.0.0.1'] ?? 0) >= 1000, `table names answered while JS was blocked (${JSON.stringify(seen)})`);
  t.ok(metrics.get(AgentMetric.dnsDropped) > 0, `unanswerable-by-the-worker queries beyond the queue were dropped and counted (${metrics.get(AgentMetric.dnsDropped)})`);
  t.ok((seen['NXDOMAIN -'] ?? 0) > 0, 'what was queued was answered by JS once it ran');
  t.match(await dig('127.0.0.1', port, 'nope.mesh'), /status: NXDOMAIN/, 'and JS answers again afterwards');
});

t.test('IPv6: fast answers and JS answers go back to the v6 client', async (t) => {
  const { server, port } = await startNative(t, '::1');
  server.setTable(table({ backend: '240.0.0.1', 'web.v6': 'fd00::5' }));
  t.equal((await dig('::1', port, '+short', 'backend.mesh')).trim(), '240.0.0.1', 'A over IPv6');
  t.equal((await dig('::1', port, '+short', 'web.v6.mesh', 'AAAA')).trim(), 'fd00::5', 'AAAA over IPv6');
  t.match(await dig('::1', port, 'missing.mesh'), /status: NXDOMAIN/, 'the JS path replies to a v6 peer too');
});

t.test('close: nothing answers, the port is free again, closing twice is harmless', async (t) => {
  const metrics = agentMetrics();
  const server = new DnsServer({ address: '127.0.0.1', port: 0, upstreams: [], metrics, log: silentLogger(), fastPath: 'native' });
  await server.start();
  server.setTable(table({ backend: '240.0.0.1' }));
  const port = server.port;
  t.equal((await dig('127.0.0.1', port, '+short', 'backend.mesh')).trim(), '240.0.0.1');
  await server.close();
  await server.close();
  server.destroy();
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, '127.0.0.1', () => resolve());
  });
  t.pass(`UDP port ${port} can be bound again`);
  sock.close();
  const client = dgram.createSocket('udp4');
  t.teardown(() => client.close());
  const got = await new Promise<boolean>((resolve) => {
    client.once('message', () => resolve(true));
    client.send(dnsPacket.encode({ type: 'query', id: 9, questions: [{ name: 'backend.mesh', type: 'A' }] }), port, '127.0.0.1');
    setTimeout(() => resolve(false), 300);
  });
  t.equal(got, false, 'no answer after close');
  t.equal(metrics.get(AgentMetric.dnsQueries, { rcode: 'NOERROR' }), 1, 'the counts read before close are kept');
});

t.test('a process that exits with the server open and queries arriving exits cleanly', async (t) => {
  const dist = path.resolve(__dirname, '../../..');
  const script = `
    const { DnsServer } = require(${JSON.stringify(path.join(dist, 'agent/dns/dns-server'))});
    const { VipTable } = require(${JSON.stringify(path.join(dist, 'agent/dns/vip-table'))});
    const { agentMetrics } = require(${JSON.stringify(path.join(dist, 'agent/admin/metrics'))});
    const { silentLogger } = require(${JSON.stringify(path.join(dist, 'lib/logger'))});
    (async () => {
      const s = new DnsServer({ address: '127.0.0.1', port: 0, upstreams: [], metrics: agentMetrics(), log: silentLogger(), fastPath: 'native' });
      await s.start();
      s.setTable(VipTable.build({ mesh: 'm', ttl: 5, vips: { backend: '240.0.0.1' } }).table);
      process.stdout.write(String(s.port) + '\\n');
      setTimeout(() => process.exit(Number(process.argv[1])), 400);
    })();`;
  for (const exitCode of [0, 3]) {
    const child = spawn(process.execPath, ['-e', script, String(exitCode)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const port = await new Promise<number>((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
    const flood = sender(port, ['backend.mesh', 'nope.mesh'], 4000, 300).catch(() => ({}));
    const { code } = await exitedWithOutput(child);
    await flood;
    t.equal(code, exitCode, `process.exit(${exitCode}) while serving: that exit code, no crash${stderr ? `: ${stderr}` : ''}`);
  }
});
