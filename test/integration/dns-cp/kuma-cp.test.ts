/**
 * The wiring in the real kuma-cp binary (standalone, SQLite): a Mesh with a builtin CA
 * gets its Kuma-named CA secrets, /tokens/dataplane signs, a Dataplane's service
 * resolves through the CP DNS server (dig), and after a restart the VIP and the CA are
 * the same.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ManagedProcess } from '../../../scripts/harness/managed-process';

const CP = path.resolve(__dirname, '../../../cp/main.js');

function request(port: number, method: string, p: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, headers: { 'content-type': 'application/json' }, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function dig(port: number, name: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', '+short', name, 'A'], { encoding: 'utf8', timeout: 10_000 }, (_e, out) => resolve(out.trim()));
  });
}

async function poll<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('kuma-cp standalone: CA secrets, tokens, DNS, stable after restart', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-cp-ident-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const env = {
    PATH: process.env.PATH,
    HOME: tmp,
    KUMA_MODE: 'standalone',
    KUMA_STORE_TYPE: 'sqlite',
    KUMA_GENERAL_WORK_DIR: path.join(tmp, 'work'),
    KUMA_API_SERVER_HTTP_PORT: '0',
    KUMA_API_SERVER_HTTP_INTERFACE: '127.0.0.1',
    KUMA_DP_SERVER_PORT: '0',
    KUMA_DNS_SERVER_PORT: '0',
    KUMA_DIAGNOSTICS_SERVER_PORT: '0',
    KUMA_DNS_SERVER_CIDR: '127.64.0.0/10',
  };
  const start = async () => {
    const cp = new ManagedProcess({ name: 'kuma-cp', command: process.execPath, args: [CP, 'run'], env });
    t.teardown(() => cp.stop(2000));
    await cp.start();
    const api = await cp.waitForPort('API server listening', 20_000);
    const dns = await cp.waitForPort('DNS server listening', 1000);
    return { cp, api, dns };
  };

  let { cp, api, dns } = await start();
  const mesh = { type: 'Mesh', name: 'm1', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } };
  t.equal((await request(api, 'PUT', '/meshes/m1', mesh)).status, 201);
  const secrets = await poll('CA secrets', async () => {
    const r = JSON.parse((await request(api, 'GET', '/meshes/m1/secrets')).text);
    return r.total >= 2 ? r.items : undefined;
  });
  t.same(secrets.map((s: { name: string }) => s.name), ['m1.ca-builtin-cert-ca-1', 'm1.ca-builtin-key-ca-1']);
  const caData = secrets[0].data;
  t.match(Buffer.from(caData, 'base64').toString(), /BEGIN CERTIFICATE/);

  const tok = await request(api, 'POST', '/tokens/dataplane', { mesh: 'm1', name: 'web-1', validFor: '1h' });
  t.equal(tok.status, 200, tok.text);
  t.match(tok.text, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  t.equal((await request(api, 'POST', '/tokens/zone', { zone: 'z1', scope: ['cp'] })).status, 200);

  const dp = { type: 'Dataplane', mesh: 'm1', name: 'web-1', networking: { address: '127.0.0.1', inbound: [{ port: 18080, servicePort: 8080, tags: { 'kuma.io/service': 'web' } }] } };
  const put = await request(api, 'PUT', '/meshes/m1/dataplanes/web-1', dp);
  t.equal(put.status, 201, put.text);
  const vip = await poll('web.mesh', async () => (await dig(dns, 'web.mesh')) || undefined);
  t.match(vip, /^127\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.\d+$/, 'VIP from KUMA_DNS_SERVER_CIDR');
  t.equal(await dig(dns, 'nope.mesh'), '', 'unknown name has no address');

  await cp.stop(5000);
  t.equal(cp.exit?.code, 0, 'clean stop');
  ({ cp, api, dns } = await start());
  t.equal(await poll('web.mesh after restart', async () => (await dig(dns, 'web.mesh')) || undefined), vip, 'same VIP after restart');
  const after = JSON.parse((await request(api, 'GET', '/meshes/m1/secrets')).text).items as { name: string; data: string }[];
  t.same(after.map((s) => s.name), ['dataplane-token-signing-key-m1', 'dataplane-token-signing-public-key-m1', 'm1.ca-builtin-cert-ca-1', 'm1.ca-builtin-key-ca-1']);
  t.equal(after.find((s) => s.name === 'm1.ca-builtin-cert-ca-1')?.data, caData, 'same CA after restart');
});
