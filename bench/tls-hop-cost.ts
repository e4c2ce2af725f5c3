/**
 * What one side of a mesh hop costs in Node before any HTTP work (issue 5): a server
 * that answers each small read with one small write, over plain TCP and over mutual TLS
 * (RSA 2048, as the mesh CA issues), CPU per request of the server process. Each kuma-dp
 * of the proxy-path pair does this twice per request (one plain side, one TLS side), so
 * 2 × (plain + TLS) estimates what the pair costs on Node's net/tls streams before any HTTP
 * work. The estimate runs high (an echo server wakes once per request per side, a relay's
 * two sockets share wake-ups): bench/proxy-path's floor path measures the same floor directly
 * (two byte relays, same run as haproxy) and found it 1.09-1.29× haproxy at 1,000 req/s
 * where this estimate said 1.7×.
 * Saturated: 16 connections in lock-step ping-pong; fixed: 1,000 requests/s over 16
 * connections. Server on core 1, client (this process) on core 0.
 *
 * Usage: node dist/bench/tls-hop-cost.js [--seconds=5] [--rate=1000] [--connections=16]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { startChild, stopChild, stopChildrenOnSignal } from './harness/children';
import { cpuMicros } from './harness/proc-stats';
import { round } from './harness/stats';
import { runContext } from './harness/run-context';
import { printTable, writeResults, type Table } from './harness/results';
import { parseArgs } from './harness/args';

const SERVER_CORE = 1;
const CLIENT_CORE = 0;
const REQUEST = Buffer.alloc(100, 0x62);
const ANSWER_LEN = 160;

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

function makeCerts(dir: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=bench-ca', '-days', '2'], dir);
  for (const name of ['server', 'client']) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=URI:spiffe://default/${name},DNS:${name}\n`);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir);
  }
}

/** Opens `n` connections (TLS with the client certificate when `certDir` is given). */
async function connectAll(port: number, n: number, certDir?: string): Promise<net.Socket[]> {
  const one = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = certDir
        ? tls.connect({ port, host: '127.0.0.1', ca: fs.readFileSync(path.join(certDir, 'ca.crt')), cert: fs.readFileSync(path.join(certDir, 'client.crt')), key: fs.readFileSync(path.join(certDir, 'client.key')), servername: 'server' }, () => resolve(s))
        : net.connect(port, '127.0.0.1', () => resolve(s));
      s.setNoDelay(true);
      s.once('error', reject);
    });
  const out: net.Socket[] = [];
  for (let i = 0; i < n; i++) out.push(await one());
  return out;
}

/** Counts whole answers per socket (an answer may arrive split or merged). */
function onAnswers(s: net.Socket, cb: (k: number) => void): void {
  let pending = 0;
  s.on('data', (d: Buffer) => {
    pending += d.length;
    const k = Math.floor(pending / ANSWER_LEN);
    pending -= k * ANSWER_LEN;
    if (k) cb(k);
  });
}

/** Lock-step ping-pong on every socket for `seconds`; resolves with the requests answered. */
function saturate(socks: net.Socket[], seconds: number): Promise<number> {
  return new Promise((resolve) => {
    let answered = 0;
    let running = true;
    for (const s of socks) {
      onAnswers(s, (k) => {
        answered += k;
        if (running) s.write(REQUEST);
      });
      s.write(REQUEST);
    }
    setTimeout(() => {
      running = false;
      setTimeout(() => {
        for (const s of socks) s.removeAllListeners('data');
        resolve(answered);
      }, 200);
    }, seconds * 1000);
  });
}

/** `rate` requests/s spread over the sockets for `seconds`; resolves with the requests answered. */
function fixed(socks: net.Socket[], rate: number, seconds: number): Promise<number> {
  return new Promise((resolve) => {
    let answered = 0;
    for (const s of socks) onAnswers(s, (k) => (answered += k));
    const total = rate * seconds;
    const start = performance.now();
    let sent = 0;
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
      while (sent < due) socks[sent++ % socks.length].write(REQUEST);
      if (sent < total) setTimeout(tick, 1);
      else
        setTimeout(() => {
          for (const s of socks) s.removeAllListeners('data');
          resolve(answered);
        }, 300);
    };
    tick();
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { seconds: 5, rate: 1000, connections: 16 });
  stopChildrenOnSignal();
  spawnSync('taskset', ['-a', '-p', '-c', String(CLIENT_CORE), String(process.pid)], { stdio: 'ignore' });
  const before = runContext();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-tls-hop-'));
  const rows: { mode: string; sat: number; satRps: number; fixed: number }[] = [];
  try {
    makeCerts(dir);
    for (const mode of ['plain', 'tls']) {
      const srv = startChild(`echo-${mode}`, process.execPath, [path.resolve(__dirname, 'harness/echo-server.js'), mode, dir], { core: SERVER_CORE });
      const port = JSON.parse(await srv.waitForLine(/"msg":"echo ready"/)).port as number;
      const socks = await connectAll(port, args.connections, mode === 'tls' ? dir : undefined);
      await saturate(socks, 1); // warm-up
      let c0 = cpuMicros(srv.pid)!;
      const n = await saturate(socks, args.seconds);
      let c1 = cpuMicros(srv.pid)!;
      const sat = (c1 - c0) / n;
      const satRps = n / args.seconds;
      await fixed(socks, args.rate, 1); // warm-up
      c0 = cpuMicros(srv.pid)!;
      const m = await fixed(socks, args.rate, args.seconds);
      c1 = cpuMicros(srv.pid)!;
      rows.push({ mode, sat, satRps, fixed: (c1 - c0) / m });
      console.log(`${mode}: ${round(sat)} µs/req saturated (${Math.round(satRps)} req/s), ${round((c1 - c0) / m)} µs/req at ${args.rate}/s`);
      for (const s of socks) s.destroy();
      await stopChild(srv);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const [plain, tlsRow] = rows;
  const table: Table = {
    title: `One side of a hop in Node: one small read, one small write per request (server CPU per request, ${args.connections} connections)`,
    columns: ['transport', 'µs/req saturated', 'req/s saturated', `µs/req @${args.rate}/s`],
    rows: rows.map((r) => [r.mode === 'tls' ? 'mutual TLS (RSA 2048)' : 'plain TCP', round(r.sat), Math.round(r.satRps), round(r.fixed)]),
  };
  printTable(table);
  const floorSat = 2 * (plain.sat + tlsRow.sat);
  const floorFixed = 2 * (plain.fixed + tlsRow.fixed);
  const files = writeResults({
    bench: 'tls-hop-cost',
    params: { seconds: args.seconds, rate: args.rate, connections: args.connections, serverCore: SERVER_CORE, clientCore: CLIENT_CORE },
    data: rows,
    tables: [table],
    verdicts: [
      `TLS adds ${round(tlsRow.sat - plain.sat)} µs per request and side saturated, ${round(tlsRow.fixed - plain.fixed)} µs at ${args.rate}/s, over plain TCP.`,
      `Floor for a proxy pair on Node streams (2 × (plain + TLS), no HTTP work): ${round(floorSat)} µs/req saturated, ${round(floorFixed)} µs/req at ${args.rate}/s; compare with the haproxy pair in bench/results/proxy-path-*.`,
    ],
    notes: ['Server: node:net / node:tls server, one write of a 160-byte answer per read of a 100-byte request, TCP_NODELAY. Client: this process, lock-step ping-pong (saturated) or a timer-driven fixed rate.', 'CPU = utime+stime delta of the server process / answered requests.'],
    context: { before, after: runContext() },
  });
  console.log(`results: ${path.relative(process.cwd(), files.json)}, ${path.relative(process.cwd(), files.md)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
