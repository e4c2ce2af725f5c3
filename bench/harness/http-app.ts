/**
 * The application behind the proxies in bench/proxy-path: a keep-alive HTTP/1.1 server
 * answering every request with a small fixed body. Usage: node http-app.js <port>
 * Prints `{"msg":"app ready","port":N}` on stdout.
 */
import http from 'node:http';

const BODY = Buffer.from('{"app":"bench","ok":true}\n');

const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
    res.end(BODY);
  });
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(JSON.stringify({ msg: 'app ready', port: typeof a === 'object' && a ? a.port : 0 }) + '\n');
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
