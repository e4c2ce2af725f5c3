/**
 * The tcp_proxy splice (agent/engine/embedded/outbound/tcp-proxy.ts) between real sockets:
 * a half-close passes through in both directions (the app answers after the caller's FIN,
 * and the caller still reads it); 16 MiB pushed at a reader that stalls arrive intact and
 * the proxy stops reading meanwhile (backpressure, so it does not buffer the stream); an
 * abort on one side aborts the other.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import t from 'tap';
import { T } from './harness/ads-server';
import * as R from './harness/resources';
import { until } from './harness/apps';
import { startAdsServer, startEngine } from './harness/engine';

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

t.test('tcp_proxy splice', async (t) => {
  const { ads, cpCa } = await startAdsServer(t);

  // The app: "collect" answers with the length and hash of all it got, after the caller's FIN;
  // "flood" writes 16 MiB and ends; "reset" destroys its side at once.
  const BIG = 16 << 20;
  const flood = crypto.randomBytes(BIG);
  const appSockets = new Set<net.Socket>();
  const app = net.createServer({ allowHalfOpen: true }, (s) => {
    appSockets.add(s);
    s.on('close', () => appSockets.delete(s));
    const got: Buffer[] = [];
    s.once('data', (first) => {
      const cmd = first.toString('latin1', 0, 5);
      if (cmd === 'flood') {
        s.end(flood);
        return;
      }
      if (cmd === 'reset') {
        s.resetAndDestroy();
        return;
      }
      got.push(first);
      s.on('data', (d) => got.push(d));
      s.on('end', () => {
        const all = Buffer.concat(got);
        s.end(`${all.length} ${sha(all)}`);
      });
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of appSockets) s.destroy();
    app.close();
  });
  const appPort = (app.address() as net.AddressInfo).port;

  const e = await startEngine(t, { mesh: 'default', name: 'splice', adsPort: ads.port, adsCaPem: cpCa.certPem });
  ads.set('default.splice', T.Cluster, [R.localCluster(appPort)]);
  ads.set('default.splice', T.Listener, [R.outboundListener('out:app', 0, R.tcpProxy('app', `localhost:${appPort}`))]);
  await until(() => e.isReady(), 'ready');
  const port = e.listenerPort('out:app')!;

  t.test('half-close: the answer written after the caller FIN reaches the caller', async (t) => {
    const payload = crypto.randomBytes(3 << 20);
    const answer = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('end', () => resolve(got));
      s.on('error', reject);
      s.end(payload);
    });
    t.equal(answer, `${payload.length} ${sha(payload)}`, 'the app saw every byte and the end, and its answer came back');
  });

  t.test('16 MiB at a stalled reader: intact, and the proxy holds back meanwhile', async (t) => {
    const s = net.connect(port, '127.0.0.1');
    t.teardown(() => s.destroy());
    s.pause();
    s.write('flood');
    // While the caller does not read, the proxy must stop reading from the app: the app's
    // write buffer stays full, far from everything having left it.
    const appSide = await new Promise<net.Socket>((resolve) => {
      const poll = setInterval(() => {
        for (const a of appSockets) if (a.writableLength > 0) {
          clearInterval(poll);
          resolve(a);
        }
      }, 20);
    });
    await new Promise((r) => setTimeout(r, 500));
    t.ok(appSide.writableLength > BIG / 2, `the app still holds ${appSide.writableLength} of ${BIG} bytes while the caller stalls`);
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.resume();
    await new Promise<void>((r) => s.on('end', () => r()));
    const all = Buffer.concat(chunks);
    t.equal(all.length, BIG, 'every byte');
    t.equal(sha(all), sha(flood), 'in order');
  });

  t.test('an abort on the app side aborts the caller', async (t) => {
    const outcome = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('reset'));
      s.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code}`));
      s.on('close', () => resolve('closed'));
    });
    t.match(outcome, /^(error ECONNRESET|closed)$/, `caller side: ${outcome}`);
  });
});
