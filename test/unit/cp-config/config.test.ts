/** loadConfig: defaults, file keys, env overrides, and a precise UsageError for every bad value. */
import t from 'tap';
import { loadConfig, SUPPORTED_CONFIG_KEYS, unknownConfigKeys } from '../../../cp/config/config';
import * as E from '../../../cp/config/env';

const HOME = { HOME: '/home/u' };

t.test('defaults', async (t) => {
  const c = loadConfig(HOME);
  t.equal(c.mode, 'standalone');
  t.equal(c.store.type, 'sqlite');
  t.equal(c.general.workDir, '/home/u/.kuma');
  t.same(c.apiServer.http, { port: 5681, interface: '0.0.0.0' });
  t.equal(c.dpServer.port, 5678);
  t.equal(c.dpServer.plaintextPort, undefined, 'plaintext DP port is off by default');
  t.equal(c.dpServer.authn.dpProxy.type, 'dpToken');
  t.same(c.dnsServer, { port: 5653, CIDR: '240.0.0.0/4', serviceVipPort: 80 });
  t.equal(c.diagnostics.serverPort, 5680);
  t.equal(c.multizone.global.kds.grpcPort, 5685);
  t.equal(c.defaults.skipMeshCreation, false);
});

t.test('file keys, then env over them', async (t) => {
  const file = [
    'mode: global',
    'store: {type: memory}',
    'general: {workDir: /var/kuma}',
    'apiServer: {http: {port: 15681, interface: 127.0.0.1}}',
    'dpServer: {port: 15678, plaintextPort: 15679, authn: {dpProxy: {type: none}}}',
    'dnsServer: {port: 0, CIDR: 10.64.0.0/10, serviceVipPort: 8080}',
    'multizone: {global: {kds: {grpcPort: 15685}}}',
    'defaults: {skipMeshCreation: true}',
  ].join('\n');
  const c = loadConfig(HOME, file);
  t.equal(c.mode, 'global');
  t.equal(c.store.type, 'memory');
  t.equal(c.general.workDir, '/var/kuma');
  t.same(c.apiServer.http, { port: 15681, interface: '127.0.0.1' });
  t.same(c.dpServer, { port: 15678, plaintextPort: 15679, authn: { dpProxy: { type: 'none' } } });
  t.same(c.dnsServer, { port: 0, CIDR: '10.64.0.0/10', serviceVipPort: 8080 });
  t.equal(c.multizone.global.kds.grpcPort, 15685);
  t.equal(c.defaults.skipMeshCreation, true);

  const e = loadConfig({ ...HOME, [E.KUMA_API_SERVER_HTTP_PORT]: '0', [E.KUMA_MODE]: 'remote', [E.KUMA_MULTIZONE_ZONE_NAME]: 'zone-1', [E.KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS]: 'grpcs://127.0.0.1:5685' }, file);
  t.equal(e.apiServer.http.port, 0, 'env wins; port 0 is allowed');
  t.equal(e.apiServer.http.interface, '127.0.0.1', 'untouched keys keep the file value');
  t.equal(e.mode, 'zone', 'remote is the old name of zone');
  t.equal(e.multizone.zone.name, 'zone-1');
  t.equal(e.multizone.zone.globalAddress, 'grpcs://127.0.0.1:5685');
  t.equal(loadConfig({ ...HOME, [E.KUMA_API_SERVER_HTTP_PORT]: '' }).apiServer.http.port, 5681, 'an empty env var is unset');
});

t.test('every bad value is a UsageError naming the source, the value and what is valid', async (t) => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ [E.KUMA_API_SERVER_HTTP_PORT]: '65536' }, /^KUMA_API_SERVER_HTTP_PORT="65536": must be an integer port in 0\.\.65535/],
    [{ [E.KUMA_DP_SERVER_PORT]: '-1' }, /KUMA_DP_SERVER_PORT="-1"/],
    [{ [E.KUMA_DNS_SERVER_PORT]: '53x' }, /KUMA_DNS_SERVER_PORT="53x"/],
    [{ [E.KUMA_MODE]: 'primary' }, /KUMA_MODE="primary": must be one of standalone, global, zone, remote/],
    [{ [E.KUMA_STORE_TYPE]: 'etcd' }, /KUMA_STORE_TYPE="etcd": must be one of memory, sqlite, postgres/],
    [{ [E.KUMA_DNS_SERVER_CIDR]: '240.0.0.0/33' }, /KUMA_DNS_SERVER_CIDR="240\.0\.0\.0\/33": must be a CIDR/],
    [{ [E.KUMA_API_SERVER_HTTP_INTERFACE]: 'localhost' }, /KUMA_API_SERVER_HTTP_INTERFACE="localhost": must be an IP address/],
    [{ [E.KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE]: 'token' }, /must be one of dpToken, none/],
    [{ [E.KUMA_DEFAULTS_SKIP_MESH_CREATION]: 'yes' }, /KUMA_DEFAULTS_SKIP_MESH_CREATION="yes": must be true or false/],
    [{ [E.KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS]: 'http://x:5685' }, /must be a URL grpcs:\/\/host:port/],
    [{ [E.KUMA_MULTIZONE_ZONE_NAME]: 'Zone_1' }, /KUMA_MULTIZONE_ZONE_NAME="Zone_1": must be lower-case/],
    [{ [E.KUMA_MODE]: 'zone' }, /needs a zone name: set KUMA_MULTIZONE_ZONE_NAME/],
    [{ [E.KUMA_GENERAL_TLS_CERT_FILE]: '/x.pem' }, /must be set together/],
  ];
  for (const [env, re] of bad) t.throws(() => loadConfig({ ...HOME, ...env }), { code: 'ERR_USAGE', message: re }, JSON.stringify(env));
  t.throws(() => loadConfig({}), { code: 'ERR_USAGE', message: /KUMA_GENERAL_WORK_DIR is not set and neither is HOME/ });
  t.throws(() => loadConfig(HOME, 'apiServer:\n  http:\n    port: 99999\n'), { code: 'ERR_USAGE', message: /^config file key apiServer\.http\.port: 99999 must be an integer port/ });
  t.throws(() => loadConfig(HOME, 'apiServer:\n  http:\n    port: "5681"x\n'), { code: 'ERR_USAGE', message: /config file is not valid YAML/ });
  t.throws(() => loadConfig(HOME, '- a\n- b\n'), { code: 'ERR_USAGE', message: /must be a YAML mapping/ });
  t.throws(() => loadConfig(HOME, 'store:\n  type: [memory]\n'), { code: 'ERR_USAGE', message: /store\.type: \["memory"\] must be one of/ });
});

t.test('unknown file keys are reported for a warning', async (t) => {
  t.same(unknownConfigKeys('environment: universal\napiServer:\n  http:\n    port: 1\n  readOnly: true\nstore:\n  type: memory\n'), ['apiServer.readOnly', 'environment']);
  t.same(unknownConfigKeys(''), []);
  t.ok(SUPPORTED_CONFIG_KEYS.includes('multizone.zone.kds.auth.cpTokenPath'));
});
