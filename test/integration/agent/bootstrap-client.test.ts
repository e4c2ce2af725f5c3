/**
 * The bootstrap client against a real HTTPS server whose certificate openssl made:
 * retries on 404 with the log line operators look for, stops on 403 with the CP's
 * words, and refuses a CP whose certificate the given CA did not sign.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { fetchBootstrap, BootstrapRejectedError, BootstrapTimeoutError } from '../../../agent/bootstrap/client';
import { buildBootstrapRequest } from '../../../agent/bootstrap/request';
import { writeBootstrap } from '../../../agent/bootstrap/write';
import { makeCert } from './support/tls';
import { CpStub, bootstrapFor } from './support/cp-stub';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdp-boot-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const cert = makeCert(dir);
const otherCa = makeCert(dir, 'someone-else');

function capturingLogger() {
  const lines: any[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const request = buildBootstrapRequest({
  mesh: 'default', name: 'dp-1', proxyType: 'dataplane', token: 'the-token', resourceText: '{"type":"Dataplane"}',
  adminPort: 9901, readinessPort: 9902, kumaDpVersion: '0.1.0', envoyVersion: { version: '1.30.1', build: 'b' }, caCertPem: cert.cert,
});

t.test('404 twice then 200: retries, logs the attempts, returns the bootstrap', async (t) => {
  const cp = new CpStub(cert);
  cp.answers = [
    { status: 404, body: { title: 'not found' } },
    { status: 404, body: { title: 'not found' } },
    { status: 200, body: { bootstrap: bootstrapFor(9901), kumaSidecarConfiguration: { networking: {} } } },
  ];
  await cp.start();
  t.teardown(() => cp.stop());
  const { log, lines } = capturingLogger();
  const outcomes: string[] = [];
  const res = await fetchBootstrap(request, { cpAddress: new URL(cp.url), caCertPem: cert.cert, backoffMs: 20, maxDurationMs: 10_000, log, onAttempt: (o) => outcomes.push(o) });
  t.same(res.bootstrap, bootstrapFor(9901));
  t.same(outcomes, ['404', '404', 'ok']);
  t.equal(cp.bootstrapRequests.length, 3);
  const body = cp.bootstrapRequests[0];
  t.equal(body.mesh, 'default');
  t.equal(body.name, 'dp-1');
  t.equal(body.proxyType, 'dataplane');
  t.equal(body.dataplaneToken, 'the-token');
  t.equal(body.dataplaneResource, '{"type":"Dataplane"}');
  t.equal(body.version.envoy.version, '1.30.1');
  t.equal(body.version.kumaDp.version, '0.1.0');
  t.equal(body.adminPort, 9901);
  t.equal(body.readinessPort, 9902);
  const retries = lines.filter((l) => l.msg === 'dataplane not registered yet, retrying');
  t.same(retries.map((l) => l.attempt), [1, 2]);
  t.equal(retries[0].dataplane, 'dp-1');
  // written where Envoy reads it, 0600
  const file = writeBootstrap(dir, res.bootstrap);
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.match(fs.readFileSync(file, 'utf8'), /port_value: 9901/);
});

t.test('403: stops at once with the CP message', async (t) => {
  const cp = new CpStub(cert);
  cp.answers = [{ status: 403, body: { title: 'Access Denied', details: 'token is for mesh "other", not "default"' } }];
  await cp.start();
  t.teardown(() => cp.stop());
  const err = await fetchBootstrap(request, { cpAddress: new URL(cp.url), caCertPem: cert.cert, backoffMs: 20, maxDurationMs: 10_000, log: capturingLogger().log }).catch((e) => e);
  t.ok(err instanceof BootstrapRejectedError);
  t.equal(err.code, 'ERR_BOOTSTRAP_REJECTED');
  t.equal(err.status, 403);
  t.match(err.message, /HTTP 403\): Access Denied; token is for mesh "other", not "default"/);
  t.equal(cp.bootstrapRequests.length, 1, 'no retry');
});

t.test('409 and 422 stop too, with the causes', async (t) => {
  const cp = new CpStub(cert);
  cp.answers = [{ status: 422, body: { title: 'Invalid dataplaneResource', details: 'Dataplane dp-1 is invalid', causes: [{ field: 'networking.inbound[0].port', message: 'must be in 1..65535' }] } }];
  await cp.start();
  t.teardown(() => cp.stop());
  const err = await fetchBootstrap(request, { cpAddress: new URL(cp.url), caCertPem: cert.cert, backoffMs: 20, maxDurationMs: 10_000, log: capturingLogger().log }).catch((e) => e);
  t.equal(err.status, 422);
  t.match(err.message, /Invalid dataplaneResource; Dataplane dp-1 is invalid; networking.inbound\[0\].port: must be in 1..65535/);
  cp.answers = [{ status: 409, body: { title: 'Conflict', details: 'Dataplane default/dp-1 came from global' } }];
  const err2 = await fetchBootstrap(request, { cpAddress: new URL(cp.url), caCertPem: cert.cert, backoffMs: 20, maxDurationMs: 10_000, log: capturingLogger().log }).catch((e) => e);
  t.equal(err2.status, 409);
  t.equal(cp.bootstrapRequests.length, 2, 'no retries');
});

t.test('a CP certificate the CA did not sign is refused (retried until the deadline)', async (t) => {
  const cp = new CpStub(cert);
  cp.answers = [{ status: 200, body: { bootstrap: bootstrapFor(1) } }];
  await cp.start();
  t.teardown(() => cp.stop());
  const err = await fetchBootstrap(request, { cpAddress: new URL(cp.url), caCertPem: otherCa.cert, backoffMs: 50, maxDurationMs: 400, log: capturingLogger().log }).catch((e) => e);
  t.ok(err instanceof BootstrapTimeoutError, String(err));
  t.match(err.message, /self[- ]signed|certificate|verify/i);
  t.equal(cp.bootstrapRequests.length, 0, 'no request reached the handler');
});

t.test('network errors are retried and logged until the deadline', async (t) => {
  const cp = new CpStub(cert);
  await cp.start();
  const url = new URL(cp.url);
  await cp.stop(); // the port is now closed: ECONNREFUSED
  const { log, lines } = capturingLogger();
  const p = fetchBootstrap(request, { cpAddress: url, caCertPem: cert.cert, backoffMs: 50, maxDurationMs: 500, log });
  const err = await p.catch((e) => e);
  t.ok(err instanceof BootstrapTimeoutError);
  t.match(err.message, /ECONNREFUSED/);
  t.ok(lines.some((l) => l.msg === 'bootstrap request failed, retrying'), 'retries are logged');
});
