/**
 * kuma-cp and kumactl as a user runs them: the compiled binaries, a temporary work dir
 * and HOME, ports picked by the OS (read from the "API server listening" log line).
 * Applies the examples, reads them back as YAML/JSON, deletes, inspects, proves that an
 * apply with one bad document changes nothing, and that a restarted CP (sqlite) still
 * has every resource.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { example, kumactl, KUMACTL, run, snapshot, startCp, tempDirs } from './cp-process';

const { tmp, home } = tempDirs(t);
// Three CP starts and some forty kumactl processes: allow for a busy machine (the tap
// runner's own limit is 180 s; running the file directly defaults to 30 s).
t.setTimeout(120_000);

t.test('apply, get, inspect, delete, all-or-nothing apply, restart keeps data', async (t) => {
  let { cp, address } = await startCp(t);

  for (const f of ['mesh.yaml', 'dataplane.yaml', 'traffic-route.yaml', 'traffic-permission.yaml', 'zone-ingress.yaml']) {
    const r = await kumactl(address, 'apply', '-f', example(f));
    t.equal(r.code, 0, `apply ${f}: ${r.stderr}`);
  }
  const viaStdin = await run(KUMACTL, ['--cp-address', address, 'apply', '-f', '-', '--var', 'name=from-stdin'], {
    input: 'type: Mesh\nname: "{{ name }}"\n',
  });
  t.equal(viaStdin.code, 0, viaStdin.stderr);
  t.match(viaStdin.stdout, /created Mesh "from-stdin"/);

  const meshes = YAML.parse((await kumactl(address, 'get', 'meshes', '-o', 'yaml')).stdout);
  t.same(meshes.items.map((m: any) => m.name), ['default', 'from-stdin']);
  t.equal(meshes.items[0].mtls.enabledBackend, 'ca-1', 'mesh default has the builtin backend from examples/mesh.yaml');
  t.equal(meshes.total, 2);

  const dp = YAML.parse((await kumactl(address, 'get', 'dataplane', 'web-1', '-o', 'yaml')).stdout);
  t.equal(dp.type, 'Dataplane');
  t.equal(dp.networking.inbound[0].tags['kuma.io/service'], 'web');
  const routes = JSON.parse((await kumactl(address, 'get', 'traffic-routes', '-m', 'default', '-o', 'json')).stdout);
  t.same(routes.items[0].conf.split.map((s: any) => s.weight), [80, 20]);

  const table = await kumactl(address, 'get', 'dataplanes');
  t.match(table.stdout, /^MESH\s+NAME\s+TAGS\s+AGE\n/);
  t.match(table.stdout, /default\s+web-1\s+kuma\.io\/protocol=http kuma\.io\/service=web version=v1\s+\d+s/);
  const zi = await kumactl(address, 'get', 'zone-ingresses');
  t.match(zi.stdout, /zone-1-ingress\s+127\.0\.0\.1:10000/);

  // Tokens come from the CP's token routes (cp/tokens); kumactl prints the JWT alone.
  const token = await kumactl(address, 'generate', 'dataplane-token', '--mesh', 'default', '--name', 'web-1', '--valid-for', '1h');
  t.equal(token.code, 0, token.stderr);
  t.match(token.stdout, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/, 'a compact JWT on one line');
  const payload = JSON.parse(Buffer.from(token.stdout.split('.')[1], 'base64url').toString('utf8'));
  t.ok(JSON.stringify(payload).includes('web-1'), 'the token names the dataplane');
  const zoneToken = await kumactl(address, 'generate', 'zone-token', '--zone', 'zone-1', '--scope', 'cp');
  t.equal(zoneToken.code, 0, zoneToken.stderr);
  t.match(zoneToken.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  const badValidFor = await kumactl(address, 'generate', 'dataplane-token', '--name', 'x', '--valid-for', 'soon');
  t.equal(badValidFor.code, 64);
  t.match(badValidFor.stderr, /--valid-for: invalid duration "soon"/);

  const inspect = await kumactl(address, 'inspect', 'dataplanes');
  t.equal(inspect.code, 0);
  t.match(inspect.stdout, /web-1\s+.*\s+Offline\s+never/, 'no kuma-dp is connected');
  const zones = await kumactl(address, 'inspect', 'zones');
  t.equal(zones.code, 1);
  t.match(zones.stderr, /global control plane/);

  // All or nothing: document 1 of 3 is invalid, so neither the mesh nor the permission is applied.
  const before = await snapshot(address);
  const bad = path.join(tmp, 'bad.yaml');
  fs.writeFileSync(
    bad,
    [
      'type: Mesh\nname: atomic',
      'type: Dataplane\nmesh: atomic\nname: dp-bad\nnetworking:\n  address: 127.0.0.1\n  inbound:\n    - port: 70000\n      tags:\n        kuma.io/service: x',
      'type: TrafficPermission\nmesh: default\nname: late\nsources:\n  - match:\n      kuma.io/service: "*"\ndestinations:\n  - match:\n      kuma.io/service: "*"',
    ].join('\n---\n'),
  );
  const refused = await kumactl(address, 'apply', '-f', bad);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /nothing was applied/);
  t.match(refused.stderr, /document\[1\]\.networking\.inbound\[0\]\.port: /, 'the error names the document and the field');
  t.notMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  t.equal(await snapshot(address), before, 'the store is unchanged');

  const del = await kumactl(address, 'delete', 'traffic-route', 'backend-canary');
  t.equal(del.code, 0, del.stderr);
  const gone = await kumactl(address, 'get', 'traffic-route', 'backend-canary');
  t.equal(gone.code, 1);
  t.match(gone.stderr, /^Error: Not Found \(TrafficRoute default\/backend-canary not found\)/);

  // Restart on the same work dir (sqlite): everything is still there, the deleted route is not.
  const afterDelete = await snapshot(address);
  await cp.stop();
  t.equal(cp.exit?.code, 0, 'SIGTERM stops kuma-cp with exit code 0');
  t.ok(cp.log.some((l) => l.msg === 'kuma-cp stopped'));
  ({ cp, address } = await startCp(t));
  t.equal(await snapshot(address), afterDelete, 'the restarted CP serves the same resources');

  // The default mesh is created on the first start only: once deleted, a restart keeps it deleted.
  t.equal((await kumactl(address, 'delete', 'mesh', 'default')).code, 0);
  t.equal((await kumactl(address, 'get', 'dataplanes', '-o', 'json')).stdout.includes('web-1'), false, 'deleting the mesh deleted its dataplane');
  await cp.stop();
  ({ cp, address } = await startCp(t));
  const after = YAML.parse((await kumactl(address, 'get', 'meshes', '-o', 'yaml')).stdout);
  t.same(after.items.map((m: any) => m.name), ['from-stdin']);

  // kumactl's own config: add a control plane, then commands need no --cp-address.
  const add = await run(KUMACTL, ['config', 'control-planes', 'add', '--name', 'e2e', '--address', address]);
  t.equal(add.code, 0, add.stderr);
  const cfg = YAML.parse(fs.readFileSync(path.join(home, '.kumactl', 'config'), 'utf8'));
  t.equal(cfg.currentContext, 'e2e');
  t.same(cfg.controlPlanes.find((c: any) => c.name === 'e2e').coordinates.apiServer.url, address);
  const viaConfig = await run(KUMACTL, ['get', 'meshes']);
  t.equal(viaConfig.code, 0, viaConfig.stderr);
  t.match(viaConfig.stdout, /from-stdin/);
  const dup = await run(KUMACTL, ['config', 'control-planes', 'add', '--name', 'e2e', '--address', address]);
  t.equal(dup.code, 64, 'adding an existing name without --overwrite is a usage error');
  // --config-file points kumactl at another config: HOME's is left alone.
  const other = path.join(tmp, 'other-kumactl.yaml');
  t.equal((await run(KUMACTL, ['--config-file', other, 'config', 'control-planes', 'add', '--name', 'other', '--address', address])).code, 0);
  t.equal(YAML.parse(fs.readFileSync(other, 'utf8')).currentContext, 'other');
  t.equal(YAML.parse(fs.readFileSync(path.join(home, '.kumactl', 'config'), 'utf8')).currentContext, 'e2e');
  const list = await run(KUMACTL, ['--config-file', other, 'config', 'control-planes', 'list']);
  t.match(list.stdout, /\*\s+other\s+http:\/\/127\.0\.0\.1:\d+/);
  const help = await run(KUMACTL, ['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /kumactl apply -f FILE/);

  const sw = await run(KUMACTL, ['config', 'control-planes', 'switch', '--name', 'local']);
  t.equal(sw.code, 0);
  const unreachable = await run(KUMACTL, ['get', 'meshes'], { env: { PATH: process.env.PATH, HOME: home } });
  // `local` is http://localhost:5681; nothing of ours listens there in this test (or if something does, it is not us).
  t.not(unreachable.code, 0);
});

