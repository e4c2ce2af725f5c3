/**
 * The server side of bench/tls-hop-cost: for every read it writes one fixed 160-byte
 * answer, the I/O one side of a proxy hop does per small request (one read, one write)
 * and nothing else. Usage: node echo-server.js plain|tls [certDir]
 * (tls: mutual TLS with server.pem, ca.crt; the caller must present a certificate).
 * Prints `{"msg":"echo ready","port":N}` on stdout.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

const ANSWER = Buffer.alloc(160, 0x61);
const [mode, certDir] = process.argv.slice(2);

function serve(s: net.Socket): void {
  s.setNoDelay(true);
  s.on('data', () => s.write(ANSWER));
  s.on('error', () => s.destroy());
}

const server =
  mode === 'tls'
    ? tls.createServer({ cert: fs.readFileSync(path.join(certDir, 'server.crt')), key: fs.readFileSync(path.join(certDir, 'server.key')), ca: fs.readFileSync(path.join(certDir, 'ca.crt')), requestCert: true, rejectUnauthorized: true }, serve)
    : net.createServer(serve);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ msg: 'echo ready', port: (server.address() as net.AddressInfo).port }) + '\n');
});
process.once('SIGTERM', () => process.exit(0));
