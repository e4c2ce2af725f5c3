import t from 'tap';
import { buildBootstrap, checkBootstrap, ADS_CLUSTER, BOOTSTRAP_MESSAGE, type BootstrapParams } from '../../../envoy-bootstrap';
import { decode } from '../../../proto/index';
import { encodeProtoJson } from '../../../proto/json';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const base: BootstrapParams = {
  mesh: 'default',
  name: 'web-1',
  proxyType: 'dataplane',
  service: 'web',
  cpHost: 'cp.internal',
  cpPort: 5678,
  cpCaPem: CA,
  dataplaneToken: 'eyJhbGciOi.token.sig',
  adminPort: 9901,
  dnsPort: 15053,
  readinessPort: 9902,
  version: { kumaDp: { version: '0.1.0' }, envoy: { version: '1.30.0' } },
};

t.test('bootstrap encodes with the real Bootstrap proto and passes every PGV rule', async (t) => {
  const b = buildBootstrap(base);
  t.same(checkBootstrap(b), []);
  const decoded = decode(BOOTSTRAP_MESSAGE, encodeProtoJson(BOOTSTRAP_MESSAGE, b));
  t.equal(decoded.node.id, 'default.web-1');
  t.equal(decoded.node.cluster, 'web');
  const ads = decoded.dynamic_resources.ads_config;
  t.equal(ads.api_type, 'GRPC');
  t.equal(ads.transport_api_version, 'V3');
  t.same(ads.grpc_services[0].envoy_grpc, { cluster_name: ADS_CLUSTER });
  t.same(ads.grpc_services[0].initial_metadata, [{ key: 'authorization', value: base.dataplaneToken }]);
  const cluster = decoded.static_resources.clusters[0];
  t.equal(cluster.name, ADS_CLUSTER);
  t.equal(cluster.type, 'STRICT_DNS');
  t.equal(cluster.transport_socket.typed_config.sni, 'cp.internal');
  t.equal(cluster.transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.inline_string, CA);
  t.ok(cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config.http2_protocol_options);
  t.same(decoded.admin.address.socket_address, { address: '127.0.0.1', port_value: 9901 });
  const md = b.node.metadata;
  t.equal(md['dataplane.proxyType'], 'dataplane');
  t.equal(md['dataplane.dns.port'], '15053');
  t.equal(md['dataplane.readinessReporter.port'], '9902');
  t.equal(md.version.envoy.version, '1.30.0');
  t.notOk('dataplane.token' in md, 'the token never goes into node metadata');
});

t.test('an IP CP address gives a STATIC cluster and no SNI', async (t) => {
  const b = buildBootstrap({ ...base, cpHost: '127.0.0.1', dataplaneToken: undefined, dnsPort: undefined });
  t.same(checkBootstrap(b), []);
  const c = b.static_resources.clusters[0];
  t.equal(c.type, 'STATIC');
  t.notOk(c.transport_socket.typed_config.sni);
  t.notOk(b.dynamic_resources.ads_config.grpc_services[0].initial_metadata);
  t.notOk('dataplane.dns.port' in b.node.metadata);
});

t.test('the checker catches what Envoy would reject', async (t) => {
  const b = buildBootstrap({ ...base, adminPort: 70000 });
  const v = checkBootstrap(b);
  t.match(v, [{ field: 'admin.address.socket_address.port_value', message: /at most 65535/ }]);
  const typo = buildBootstrap(base);
  typo.static_resources.clusters[0].conect_timeout = '1s';
  t.throws(() => checkBootstrap(typo), { code: 'ERR_PROTO_JSON' });
  const empty = buildBootstrap(base);
  empty.static_resources.clusters[0].name = '';
  t.match(checkBootstrap(empty), [{ field: 'static_resources.clusters[0].name', message: /at least 1/ }]);
});

t.test('same input, byte-identical output', async (t) => {
  t.equal(JSON.stringify(buildBootstrap(base)), JSON.stringify(buildBootstrap({ ...base })));
});
