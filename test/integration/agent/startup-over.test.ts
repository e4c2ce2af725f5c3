/**
 * agent/run.ts's start-up watch, in a real `kuma-dp run` process (scripted DP server, fake
 * Envoy): "start-up over" is logged once, after "kuma-dp started", only when the proxy is
 * ready; that is the moment agent/heap-growth.ts's hold on the young generation is released.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeCert } from './support/tls';
import { CpStub, bootstrapFor } from './support/cp-stub';
import { KumaDpProcess, FAKE_ENVOY, httpGet } from './support/kuma-dp-process';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kdp-startup-over-'));
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
const cert = makeCert(root);
const dpFile = path.join(root, 'dp.yaml');
fs.writeFileSync(dpFile, ['type: Dataplane', 'mesh: default', 'name: so-1', 'networking:', '  address: 127.0.0.1', '  inbound:', '    - port: 10080', '      servicePort: 18080', '      tags:', '        kuma.io/service: backend', ''].join('\n'));

t.test('"start-up over" comes once, after start, with the proxy ready', async (t) => {
  const stub = new CpStub(cert);
  stub.answers = [
    { status: 404, body: { title: 'Not found' } },
    (req: any) => ({ status: 200, body: { bootstrap: bootstrapFor(req.adminPort), kumaSidecarConfiguration: {} } }),
  ];
  await stub.start();
  t.teardown(() => stub.stop());
  const work = path.join(root, 'work');
  const p = new KumaDpProcess(
    ['run', `--cp-address=${stub.url}`, `--ca-cert-file=${cert.certFile}`, `--dataplane-file=${dpFile}`, `--binary-path=${FAKE_ENVOY}`, `--config-dir=${work}`, '--drain-time=0s'],
    { KUMA_CONTROL_PLANE_RETRY_BACKOFF: '50ms', FAKE_ENVOY_ARGV_FILE: path.join(root, 'argv.jsonl'), FAKE_ENVOY_EVENTS_FILE: path.join(root, 'events.txt') },
  );
  t.teardown(() => p.kill());
  const readiness = (await p.waitLog('readiness listening')).port as number;
  const over = await p.waitLog('start-up over', 15_000);
  t.equal(over.ready, true, 'the proxy was ready');
  t.ok(over.afterMs >= 0 && over.afterMs < 15_000, `after ${over.afterMs} ms`);
  const msgs = p.logs().map((l) => l.msg);
  t.ok(msgs.indexOf('kuma-dp started') >= 0 && msgs.indexOf('kuma-dp started') < msgs.indexOf('start-up over'), 'after "kuma-dp started"');
  t.equal((await httpGet(readiness, '/ready')).status, 200, '/ready says READY');
  p.kill('SIGTERM');
  const exit = await p.exited;
  t.equal(exit.code, 0, 'clean stop');
  t.equal(p.logs().filter((l) => l.msg === 'start-up over').length, 1, 'logged once');
});
