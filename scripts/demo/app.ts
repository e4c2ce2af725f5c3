/**
 * The demo's service: a tiny HTTP server that says who and where it is. Started as a
 * child process by the demo and the e2e tests, behind a kuma-dp sidecar; it binds
 * 127.0.0.1 only (the sidecar's inbound listener forwards to it).
 *
 * Environment: DEMO_SERVICE, DEMO_ZONE, DEMO_INSTANCE, DEMO_PORT (0 = a free port),
 * DEMO_KEEPALIVE_MS (idle keep-alive connections close after this; default 5000, Node's).
 * Prints one JSON line `{"msg":"app listening","port":N,...}` when it is up.
 * Every answer: `{"service","zone","instance","path","method"}`; the header `x-served-by`
 * carries `<service>/<zone>/<instance>` as well.
 */
import http from 'node:http';

/** Names of the environment variables the app reads. */
export const APP_ENV = { service: 'DEMO_SERVICE', zone: 'DEMO_ZONE', instance: 'DEMO_INSTANCE', port: 'DEMO_PORT', keepAliveMs: 'DEMO_KEEPALIVE_MS' } as const;

/** What the app answers to every request. */
export interface AppAnswer {
  service: string;
  zone: string;
  instance: string;
  path: string;
  method: string;
}

function main(): void {
  const who = {
    service: process.env[APP_ENV.service] ?? 'app',
    zone: process.env[APP_ENV.zone] ?? 'local',
    instance: process.env[APP_ENV.instance] ?? '1',
  };
  const port = Number(process.env[APP_ENV.port] ?? '0');
  const server = http.createServer((req, res) => {
    // Drain the body so that keep-alive connections stay usable.
    req.resume();
    const answer: AppAnswer = { ...who, path: req.url ?? '/', method: req.method ?? 'GET' };
    const body = JSON.stringify(answer);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-served-by': `${who.service}/${who.zone}/${who.instance}` });
    res.end(body);
  });
  server.keepAliveTimeout = Number(process.env[APP_ENV.keepAliveMs] ?? '5000');
  server.listen(port, '127.0.0.1', () => {
    const bound = (server.address() as { port: number }).port;
    process.stdout.write(JSON.stringify({ msg: 'app listening', port: bound, ...who }) + '\n');
  });
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) main();
