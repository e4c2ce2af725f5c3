/**
 * The protoc-gen-validate checker finds what Envoy would reject, with Envoy-style
 * paths; strict proto3 JSON refuses unknown fields and enum names.
 */
import t from 'tap';
import { encodeProtoJson } from '../../../proto/json';
import { validateBytes, validateAny, validateMessage } from '../../../proto/validate';
import { ExtensionTypeUrl, TypeUrl } from '../../../proto/index';

const check = (type: string, json: unknown) => validateBytes(type, encodeProtoJson(type, json));

const listener = (tcp: Record<string, unknown>) => ({
  name: 'l',
  address: { socket_address: { address: '127.0.0.1', port_value: 80 } },
  filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': ExtensionTypeUrl.TcpProxy, ...tcp } }] }],
});

t.test('an empty stat_prefix inside typed_config is caught with its full path', async (t) => {
  t.same(check(TypeUrl.Listener, listener({ stat_prefix: 'x', cluster: 'c' })), []);
  t.same(check(TypeUrl.Listener, listener({ stat_prefix: '', cluster: 'c' })), [
    { field: 'filter_chains[0].filters[0].typed_config.stat_prefix', message: 'value length must be at least 1' },
  ]);
});

t.test('required oneof, repeated min_items, numeric and duration bounds, enums', async (t) => {
  t.match(check(TypeUrl.Listener, listener({ stat_prefix: 'x' })), [{ field: 'filter_chains[0].filters[0].typed_config.cluster_specifier', message: /exactly one of cluster, weighted_clusters/ }]);
  t.match(check(TypeUrl.RouteConfiguration, { name: 'r', virtual_hosts: [{ name: 'v', domains: [] }] }), [{ field: 'virtual_hosts[0].domains', message: /at least 1 item/ }]);
  t.match(check(TypeUrl.Cluster, { name: 'c', connect_timeout: '0s' }), [{ field: 'connect_timeout', message: /greater than 0s/ }]);
  t.match(check(TypeUrl.Listener, { name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 70000 } } }), [{ field: 'address.socket_address.port_value', message: /at most 65535/ }]);
  t.match(validateMessage(TypeUrl.Cluster, { name: 'c', lb_policy: 42 }), [{ field: 'lb_policy', message: /defined enum/ }]);
  // List-valued rules survive (loaded from Envoy's sources): scheme_to_overwrite in ["http", "https"].
  t.match(check('envoy.config.core.v3.SchemeHeaderTransformation', { scheme_to_overwrite: 'ftp' }), [{ field: 'scheme_to_overwrite', message: /in list \["http","https"\]/ }]);
  t.same(check('envoy.config.core.v3.SchemeHeaderTransformation', { scheme_to_overwrite: 'http' }), []);
  t.match(check(TypeUrl.ClusterLoadAssignment, { cluster_name: '' }), [{ field: 'cluster_name', message: /at least 1/ }]);
  t.match(check(TypeUrl.RouteConfiguration, { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/', headers: [{ name: 'bad\nheader', string_match: { exact: 'x' } }] }, route: { cluster: 'c' } }] }] }), [
    { field: 'virtual_hosts[0].routes[0].match.headers[0].name', message: /HTTP_HEADER_NAME/ },
  ]);
  // A member of a oneof is checked only when set; message.required inside nested Any.
  t.match(check(TypeUrl.Listener, { name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 1 } }, filter_chains: [{ filters: [{ name: 'rbac', typed_config: { '@type': ExtensionTypeUrl.NetworkRbac, stat_prefix: 's' } }] }] }), []);
});

t.test('Any with an unknown type URL is a violation', async (t) => {
  t.match(validateAny({ type_url: 'type.googleapis.com/no.such.Type', value: new Uint8Array() }), [{ field: 'type_url', message: /unknown message type/ }]);
});

t.test('strict JSON: unknown fields and enum names are refused with their path', async (t) => {
  t.throws(() => encodeProtoJson(TypeUrl.Cluster, { name: 'c', lb_polcy: 'ROUND_ROBIN' }), { code: 'ERR_PROTO_JSON', message: /lb_polcy: unknown field/ });
  t.throws(() => encodeProtoJson(TypeUrl.Cluster, { name: 'c', lb_policy: 'FASTEST' }), { message: /lb_policy: "FASTEST" is not a value/ });
  t.throws(() => encodeProtoJson(TypeUrl.Cluster, { name: 'c', connect_timeout: '5 seconds' }), { message: /connect_timeout: duration/ });
  t.throws(() => encodeProtoJson(TypeUrl.Listener, listener({ stat_prefix: 'x', clusterx: 'c' })), { message: /filter_chains\[0\]\.filters\[0\]\.typed_config\.clusterx/ });
  t.throws(() => encodeProtoJson(TypeUrl.Listener, listener({ stat_prefix: 'x', cluster: 'a', weighted_clusters: { clusters: [] } })), { message: /oneof cluster_specifier already set/ });
});
