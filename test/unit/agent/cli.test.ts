import t, { type Test } from 'tap';
import { resolveRunConfig } from '../../../agent/cli/run-options';
import { parseFlags } from '../../../agent/cli/flags';
import { renderTemplate } from '../../../agent/cli/template';
import { UsageError } from '../../../lib/errors';

const DP = `type: Dataplane
mesh: default
name: {{ name }}
networking:
  address: {{address}}
  inbound:
    - port: 8080
      tags:
        kuma.io/service: backend
`;
const files: Record<string, string> = { '/dp.yaml': DP, '/token': 'tok-123\n', '/empty': '', '/ca.pem': '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n', '/not-pem': 'hello' };
const deps = (env: NodeJS.ProcessEnv = {}) => ({
  env,
  readFile: (p: string) => {
    if (p in files) return files[p];
    throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  },
});
const run = (argv: string[], env?: NodeJS.ProcessEnv) => resolveRunConfig(argv, deps(env));
const usage = (t: Test, argv: string[], pattern: RegExp, env?: NodeJS.ProcessEnv) => {
  let caught: unknown;
  try {
    run(argv, env);
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof UsageError && caught.code === 'ERR_USAGE', `${argv.join(' ')}: UsageError`);
  t.match((caught as Error)?.message, pattern, `${argv.join(' ')} -> ${pattern}`);
};

t.test('a full dataplane command line', async (t) => {
  const c = run(['--cp-address=https://cp:5678', '-d', '/dp.yaml', '--dataplane-var', 'name=dp-1', '-v', 'address=127.0.0.1',
    '--dataplane-token-file', '/token', '--ca-cert-file=/ca.pem', '--engine', 'envoy', '--binary-path=/opt/envoy',
    '--drain-time=1m30s', '--concurrency', '2', '--admin-port', '9901', '--readiness-port=9902', '--dns-enabled',
    '--dns-proxy-port', '15054', '--dns-fast-path=js', '--restart-policy=on-failure', '--config-dir', '/var/lib/kuma-dp', '--', '--component-log-level', 'upstream:debug']);
  t.equal(c.cpAddress.href, 'https://cp:5678/');
  t.equal(c.name, 'dp-1');
  t.equal(c.mesh, 'default');
  t.equal(c.resource?.json.networking.address, '127.0.0.1');
  t.equal(c.token, 'tok-123');
  t.match(c.caCertPem, /BEGIN CERTIFICATE/);
  t.equal(c.engine, 'envoy');
  t.equal(c.binaryPath, '/opt/envoy');
  t.equal(c.drainTimeMs, 90_000);
  t.equal(c.concurrency, 2);
  t.equal(c.adminPort, 9901);
  t.equal(c.readinessPort, 9902);
  t.same(c.dns, { enabled: true, port: 15054, upstreams: undefined, refreshIntervalMs: 10_000, fastPath: 'js' });
  t.equal(c.restartPolicy, 'on-failure');
  t.equal(c.workDir, '/var/lib/kuma-dp');
  t.same(c.extraArgs, ['--component-log-level', 'upstream:debug']);
});

t.test('defaults and Kuma env names', async (t) => {
  const c = run([], { KUMA_CONTROL_PLANE_URL: 'http://127.0.0.1:1', KUMA_DATAPLANE_NAME: 'x', KUMA_DATAPLANE_MESH: 'm', KUMA_DATAPLANE_RUNTIME_TOKEN_PATH: '/token', KUMA_DNS_ENABLED: 'true', KUMA_DNS_CORE_DNS_PORT: '1053', KUMA_DATAPLANE_DRAIN_TIME: '5s', KUMA_DATAPLANE_RUNTIME_BINARY_PATH: 'envoy-1.30' });
  t.equal(c.cpAddress.origin, 'http://127.0.0.1:1');
  t.equal(c.name, 'x');
  t.equal(c.mesh, 'm');
  t.equal(c.token, 'tok-123');
  t.equal(c.dns.enabled, true);
  t.equal(c.dns.port, 1053);
  t.equal(c.drainTimeMs, 5000);
  t.equal(c.binaryPath, 'envoy-1.30');
  t.equal(c.engine, 'auto');
  t.equal(c.proxyType, 'dataplane');
  t.equal(c.readinessPort, 0);
  t.equal(c.envoyLogLevel, 'info');
  const d = run(['--name=a', '--mesh=b']);
  t.equal(d.cpAddress.href, 'https://localhost:5678/', "Kuma's default CP address");
  t.equal(d.drainTimeMs, 30_000);
  t.equal(d.dns.port, 15053);
  t.equal(d.dns.enabled, false);
  // flags beat env
  t.equal(run(['--name=flag', '--mesh=m'], { KUMA_DATAPLANE_NAME: 'env' }).name, 'flag');
});

t.test('usage errors name the flag, the value and what is valid', async (t) => {
  usage(t, ['--engine=v8', '--name=a', '--mesh=m'], /--engine: invalid value "v8"; valid: auto, envoy, embedded/);
  usage(t, ['--proxy-type=egress', '--name=a'], /--proxy-type: invalid value "egress"; valid: dataplane, ingress/);
  usage(t, ['--restart-policy=always', '--name=a', '--mesh=m'], /valid: never, on-failure/);
  usage(t, ['--dns-fast-path=c', '--name=a', '--mesh=m'], /--dns-fast-path.*"c".*auto, native, js/);
  usage(t, ['--drain-time=30', '--name=a', '--mesh=m'], /--drain-time: invalid duration "30"; expected a number with a unit/);
  usage(t, ['--concurrency=-1', '--name=a', '--mesh=m'], /--concurrency: invalid value "-1"; valid: an integer in 1..1024/);
  usage(t, ['--readiness-port=70000', '--name=a', '--mesh=m'], /--readiness-port: invalid value "70000"; valid: an integer in 0..65535/);
  usage(t, ['--cp-adress=x'], /unknown flag --cp-adress \(did you mean --cp-address\?\)/);
  usage(t, ['--cp-address'], /flag --cp-address needs a value/);
  usage(t, ['--cp-address=ftp://x', '--name=a', '--mesh=m'], /unsupported scheme "ftp:"/);
  usage(t, ['--cp-address=::::', '--name=a', '--mesh=m'], /--cp-address: invalid URL/);
  usage(t, ['--dns-enabled=maybe', '--name=a', '--mesh=m'], /--dns-enabled: invalid boolean "maybe"/);
  usage(t, ['--mesh=m'], /--name: required/);
  usage(t, ['--name=a'], /--mesh: required/);
  usage(t, ['stray', '--name=a', '--mesh=m'], /unexpected argument "stray"; Envoy arguments go after --/);
  usage(t, ['-d', '/dp.yaml', '-v', 'name=x'], /\{\{ address \}\}.*--dataplane-var address=VALUE/);
  usage(t, ['-d', '/missing.yaml'], /-d.*|--dataplane-file: cannot read the dataplane template "\/missing.yaml": ENOENT/);
  usage(t, ['-d', '/dp.yaml', '-v', 'name=x', '-v', 'address=1.2.3.4', '--name=y'], /--name: "y" differs from the template's name "x"/);
  usage(t, ['-d', '/dp.yaml', '-v', 'name=x,address=1.2.3.4', '--proxy-type=ingress'], /type is "Dataplane" but --proxy-type=ingress needs type: ZoneIngress/);
  usage(t, ['--dataplane=type: [', '--name=a'], /--dataplane: not valid YAML or JSON/);
  usage(t, ['--dataplane-var', 'novalue', '-d', '/dp.yaml'], /--dataplane-var: invalid "novalue"; valid: NAME=VALUE/);
  usage(t, ['--name=a', '--mesh=m', '--dataplane-token-file=/empty'], /is empty/);
  usage(t, ['--name=a', '--mesh=m', '--ca-cert-file=/not-pem'], /holds no PEM certificate/);
  usage(t, ['--name=a', '--mesh=m', '--dns-upstream=foo:53'], /--dns-upstream: invalid upstream "foo:53"/);
  usage(t, ['--name=a', '--mesh=m'], /KUMA_DATAPLANE_DRAIN_TIME \(for --drain-time\): invalid duration "forever"/, { KUMA_DATAPLANE_DRAIN_TIME: 'forever' });
  usage(t, ['--name=a', '--mesh=m', '--engine=embedded', '--binary-path=/x'], /--binary-path: given with --engine=embedded/);
});

t.test('ingress with a ZoneIngress and a delegated gateway are accepted', async (t) => {
  const ing = run(['--proxy-type=ingress', '--dataplane', 'type: ZoneIngress\nname: ingress-1\nnetworking:\n  address: 127.0.0.1\n  port: 10001\n']);
  t.equal(ing.proxyType, 'ingress');
  t.equal(ing.name, 'ingress-1');
  t.equal(ing.mesh, undefined);
  const gw = run(['--dataplane', 'type: Dataplane\nmesh: default\nname: gw\nnetworking:\n  address: 127.0.0.1\n  gateway:\n    type: DELEGATED\n    tags:\n      kuma.io/service: edge\n']);
  t.equal(gw.resource?.json.networking.gateway.type, 'DELEGATED');
});

t.test('flag parser details', async (t) => {
  const p = parseFlags(['--a=1', '--b', '2', '-c3', '--flag', '--', '--a=9', 'x'], [
    { name: 'a', kind: 'string', help: '' },
    { name: 'b', kind: 'string', help: '', repeatable: true },
    { name: 'c', short: 'c', kind: 'string', help: '' },
    { name: 'flag', kind: 'bool', help: '' },
  ]);
  t.equal(p.values.get('a'), '1');
  t.same(p.values.get('b'), ['2']);
  t.equal(p.values.get('c'), '3');
  t.equal(p.values.get('flag'), 'true');
  t.same(p.passthrough, ['--a=9', 'x']);
});


t.test('templates', async (t) => {
  t.equal(renderTemplate('a: {{ x }} b: {{y}} c: {{ x }}', { x: '1', y: '2' }), 'a: 1 b: 2 c: 1');
  t.throws(() => renderTemplate('{{ b }} {{ a }}', {}), /\{\{ a \}\}, \{\{ b \}\}/);
});
