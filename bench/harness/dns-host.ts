/**
 * A process that runs only kuma-dp's DNS server component (agent/dns) with a fixed VIP
 * table, so that its throughput can be measured apart from the rest of kuma-dp.
 * Usage: node dist/bench/harness/dns-host.js <vips.json> [port] [auto|native|js]
 * Prints one JSON line `{"msg":"ready","port":N,"fastPath":"native"|"js"}` on stdout once
 * listening; exits on SIGTERM.
 */
import fs from 'node:fs';
import { silentLogger } from '../../lib/logger';
import { agentMetrics } from '../../agent/admin/metrics';
import { DnsServer, type DnsFastPath } from '../../agent/dns/dns-server';
import { parseVipsDocument, VipTable } from '../../agent/dns/vip-table';

async function main(): Promise<void> {
  const [file, portArg, fastPath] = process.argv.slice(2);
  if (!file) throw new Error('usage: dns-host <vips.json> [port] [auto|native|js]');
  const doc = parseVipsDocument(JSON.parse(fs.readFileSync(file, 'utf8')));
  const server = new DnsServer({ address: '127.0.0.1', port: Number(portArg ?? 0), upstreams: [], metrics: agentMetrics(), log: silentLogger(), fastPath: (fastPath ?? 'auto') as DnsFastPath });
  server.setTable(VipTable.build(doc).table);
  await server.start();
  process.stdout.write(JSON.stringify({ msg: 'ready', port: server.port, fastPath: server.fastPath, names: Object.keys(doc.vips).length }) + '\n');
  process.once('SIGTERM', () => {
    void server.close().then(() => process.exit(0));
  });
}

main().catch((err) => {
  process.stderr.write(`dns-host: ${(err as Error).message}\n`);
  process.exit(1);
});
