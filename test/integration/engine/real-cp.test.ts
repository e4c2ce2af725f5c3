/**
 * The embedded engine against a real `kuma-cp run` (standalone, memory store): the
 * bootstrap comes from the CP's POST /bootstrap, the config over the CP's ADS (TLS,
 * dataplane token), generated from Kuma resources applied through the REST API.
 * Two engines (web, frontend) carry HTTP over mTLS through an explicit outbound; a
 * TrafficPermission change that excludes the caller is enforced; nothing is NACKed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { silentLogger } from '../../../lib/logger';
import { fetchBootstrap } from '../../../agent/bootstrap/client';
import { buildBootstrapRequest } from '../../../agent/bootstrap/request';
import { EmbeddedEngine } from '../../../agent/engine/embedded/embedded-engine';
import { httpApp, request, until } from './harness/apps';
import { admin } from './harness/engine';
import { AdsTestClient } from '../xds/ads-test-client';
import { TypeUrl } from '../../../proto/index';
import { EMBEDDED_USER_AGENT } from '../../../lib/client-features';
import { freePort } from '../../../lib/free-port';

const CP_MAIN = path.resolve(__dirname, '../../../cp/main.js');


async function api(base: string, method: string, p: string, body?: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${p}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

t.test('embedded engines on a real kuma-cp', { skip: fs.existsSync(CP_MAIN) ? false : 'kuma-cp is not built' }, async (t) => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-real-cp-'));
  const lines: any[] = [];
  const cp: ChildProcess = spawn(process.execPath, [CP_MAIN, 'run'], {
    env: {
      ...process.env,
      HOME: workDir,
      KUMA_MODE: 'standalone',
      KUMA_GENERAL_WORK_DIR: workDir,
      KUMA_STORE_TYPE: 'memory',
      KUMA_API_SERVER_HTTP_PORT: '0',
      KUMA_API_SERVER_HTTP_INTERFACE: '127.0.0.1',
      KUMA_DP_SERVER_PORT: '0',
      KUMA_DNS_SERVER_PORT: '0',
      KUMA_DIAGNOSTICS_SERVER_PORT: '0',
      KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT: '0',
      KUMA_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (cp.exitCode === null) cp.kill('SIGKILL');
    fs.rmSync(workDir, { recursive: true, force: true });
  });
  for (const stream of [cp.stdout!, cp.stderr!]) {
    readline.createInterface({ input: stream }).on('line', (l) => {
      try {
        lines.push(JSON.parse(l));
      } catch {
        lines.push({ msg: l });
      }
    });
  }
  const apiLine = await until(() => lines.find((l) => l.msg === 'API server listening'), 'kuma-cp API server', 30_000);
  const dpLine = lines.find((l) => l.msg === 'DP server listening');
  t.ok(dpLine?.port && dpLine.caFile, 'DP server port and CA from the CP log');
  const base = `http://127.0.0.1:${apiLine.port}`;
  const caPem = fs.readFileSync(dpLine.caFile, 'utf8');

  let r = await api(base, 'PUT', '/meshes/default', { type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } });
  t.ok(r.status === 200 || r.status === 201, `mesh with mTLS: ${r.status} ${r.text}`);

  const app = await httpApp('web-app');
  t.teardown(() => app.server.close());
  const webInbound = await freePort();
  const feInbound = await freePort();
  const feOutbound = await freePort();
  const dataplanes = {
    web: { type: 'Dataplane', mesh: 'default', name: 'web-1', networking: { address: '127.0.0.1', inbound: [{ port: webInbound, servicePort: app.port, serviceAddress: '127.0.0.1', tags: { 'kuma.io/service': 'web', 'kuma.io/protocol': 'http' } }] } },
    frontend: {
      type: 'Dataplane',
      mesh: 'default',
      name: 'frontend-1',
      networking: {
        address: '127.0.0.1',
        inbound: [{ port: feInbound, servicePort: await freePort(), tags: { 'kuma.io/service': 'frontend', 'kuma.io/protocol': 'http' } }],
        outbound: [{ port: feOutbound, tags: { 'kuma.io/service': 'web' } }],
      },
    },
  };
  const engines: EmbeddedEngine[] = [];
  t.teardown(() => engines.forEach((e) => e.destroy()));
  const start = async (dp: any): Promise<EmbeddedEngine> => {
    const put = await api(base, 'PUT', `/meshes/default/dataplanes/${dp.name}`, dp);
    t.ok(put.status === 200 || put.status === 201, `PUT dataplane ${dp.name}: ${put.status} ${put.text}`);
    const tok = await api(base, 'POST', '/tokens/dataplane', { mesh: 'default', name: dp.name, type: 'dataplane' });
    t.equal(tok.status, 200, `token for ${dp.name}: ${tok.text.slice(0, 200)}`);
    let token = tok.text.trim();
    try {
      const j = JSON.parse(token);
      token = typeof j === 'string' ? j : j.token;
    } catch {
      // plain text token
    }
    const req = buildBootstrapRequest({ mesh: 'default', name: dp.name, proxyType: 'dataplane', token, adminPort: await freePort(), caCertPem: caPem, kumaDpVersion: '0.1.0' });
    const boot = await fetchBootstrap(req, { cpAddress: new URL(`https://127.0.0.1:${dpLine.port}`), caCertPem: caPem, backoffMs: 100, maxDurationMs: 15_000, log: silentLogger() });
    const dir = fs.mkdtempSync(path.join(workDir, `${dp.name}-`));
    const e = new EmbeddedEngine({ bootstrap: boot.bootstrap, bootstrapPath: path.join(dir, 'bootstrap.json'), workDir: dir, cpCaPem: caPem, dataplaneToken: token, drainTimeMs: 500, logLevel: 'warn', extraArgs: [], log: silentLogger() });
    engines.push(e);
    await e.start();
    await until(() => e.isReady(), `${dp.name} engine ready`, 20_000);
    return e;
  };
  const web = await start(dataplanes.web);
  const fe = await start(dataplanes.frontend);

  t.test('HTTP from frontend to web over the CP-generated mTLS config', async (t) => {
    const res = await until(async () => {
      try {
        const x = await request(feOutbound, { path: '/hello' });
        return x.status === 200 ? x : undefined;
      } catch {
        return undefined;
      }
    }, 'a 200 through the mesh', 20_000);
    t.equal(JSON.parse(res!.body).app, 'web-app');
    t.equal(JSON.parse(res!.body).path, '/hello');
    const stats = (await admin(web, '/stats')).body;
    t.match(stats, /rbac_allowed: [1-9]/, 'the web inbound checked the caller against RBAC');
    for (const e of [web, fe]) t.match((await admin(e, '/stats')).body, /control_plane\.update_rejected: 0\n/, 'no NACK');
    const dump = JSON.parse((await admin(fe, '/config_dump')).body);
    const mesh = dump.clusters.find((c: any) => c.transport_socket?.typed_config?.sni?.startsWith('web{'));
    t.ok(mesh, 'mesh cluster with Kuma SNI');
    // The engine lists its features in node.client_features; the CP then states the idle timeout.
    const idle = mesh?.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.common_http_protocol_options?.idle_timeout;
    t.equal(Number(idle?.seconds), 3600, 'the mesh cluster states its idle timeout');
  });

  t.test('an older embedded engine (no client_features) gets mesh clusters without the idle timeout it would NACK', async (t) => {
    const dp = { ...dataplanes.frontend, name: 'old-frontend-1', networking: { ...dataplanes.frontend.networking, inbound: [{ ...dataplanes.frontend.networking.inbound[0], port: await freePort() }], outbound: [{ port: await freePort(), tags: { 'kuma.io/service': 'web' } }] } };
    const put = await api(base, 'PUT', `/meshes/default/dataplanes/${dp.name}`, dp);
    t.ok(put.status === 200 || put.status === 201, `PUT dataplane ${dp.name}: ${put.status} ${put.text}`);
    const tok = await api(base, 'POST', '/tokens/dataplane', { mesh: 'default', name: dp.name, type: 'dataplane' });
    let token = tok.text.trim();
    try {
      const j = JSON.parse(token);
      token = typeof j === 'string' ? j : j.token;
    } catch {
      // plain text token
    }
    const md = new grpc.Metadata();
    md.set('authorization', token);
    const c = new AdsTestClient(`localhost:${dpLine.port}`, { id: `default.${dp.name}`, user_agent_name: EMBEDDED_USER_AGENT }, false, md, grpc.credentials.createSsl(Buffer.from(caPem)));
    t.teardown(() => c.close());
    c.request(TypeUrl.Cluster, [], undefined, undefined, true);
    const cds = await c.next(TypeUrl.Cluster, 0, 10_000);
    const mesh = cds.resources.find((r) => r.transport_socket?.typed_config?.sni?.startsWith('web{'));
    t.ok(mesh, 'the mesh cluster came');
    t.equal(mesh?.typed_extension_protocol_options, undefined, 'without HttpProtocolOptions (as before the idle timeout)');
    t.same(c.violations, [], 'xDS protocol invariants held');
  });

  t.test('a TrafficPermission that excludes the caller is enforced', async (t) => {
    r = await api(base, 'DELETE', '/meshes/default/traffic-permissions/allow-all-default');
    t.ok(r.status === 200 || r.status === 204, `delete allow-all: ${r.status} ${r.text}`);
    r = await api(base, 'PUT', '/meshes/default/traffic-permissions/only-gateway', {
      type: 'TrafficPermission',
      mesh: 'default',
      name: 'only-gateway',
      sources: [{ match: { 'kuma.io/service': 'gateway' } }],
      destinations: [{ match: { 'kuma.io/service': 'web' } }],
    });
    t.ok(r.status === 200 || r.status === 201, `permission: ${r.status} ${r.text}`);
    await until(async () => {
      try {
        const x = await request(feOutbound, { path: '/denied' });
        return x.status !== 200;
      } catch {
        return true;
      }
    }, 'frontend refused', 20_000);
    t.match((await admin(web, '/stats')).body, /rbac_denied: [1-9]/, 'denial counted on the web sidecar');
  });
});
