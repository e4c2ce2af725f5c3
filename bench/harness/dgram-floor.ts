/**
 * The cheapest UDP responder Node's public `dgram` API allows, for the DNS benchmark: it
 * answers every datagram with the query's own bytes turned into a response carrying one
 * fixed A record (no parsing, no lookup, no metrics), and resolves reply destinations
 * synchronously like agent/dns does. Whatever it costs per query is the floor for any DNS
 * server built on `node:dgram` in one process; it is a reference, not a DNS server (every
 * name gets 192.0.2.1).
 * Usage: node dist/bench/harness/dgram-floor.js [port]
 * Prints one JSON line `{"msg":"ready","port":N}` on stdout once listening; exits on SIGTERM.
 */
import dgram from 'node:dgram';

// Answer RR for the name at offset 12: pointer, A, IN, TTL 60, 4 bytes, 192.0.2.1 (TEST-NET-1).
const RR = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);

const sock = dgram.createSocket({ type: 'udp4', lookup: ((host: string, _family: number, cb: (err: null, address: string, family: number) => void) => cb(null, host, 4)) as never });
sock.on('message', (msg, rinfo) => {
  if (msg.length < 12) return;
  // Echo header and question (the payload dnsperf sends is one question, no additionals).
  const out = Buffer.allocUnsafe(msg.length + RR.length);
  msg.copy(out, 0);
  out[2] = 0x84 | (msg[2] & 0x01); // QR, AA, RD echoed
  out[3] = 0x80; // RA, NOERROR
  out[6] = 0;
  out[7] = 1; // ANCOUNT
  out[8] = out[9] = out[10] = out[11] = 0;
  RR.copy(out, msg.length);
  sock.send(out, rinfo.port, rinfo.address);
});
sock.bind(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ msg: 'ready', port: sock.address().port }) + '\n');
});
process.once('SIGTERM', () => sock.close(() => process.exit(0)));
