/**
 * proto/json.ts, the strict proto3 JSON reader every CP resource goes through: a typo in
 * a generator must fail with the field's path (protobufjs's fromObject would drop it
 * silently), and what it encodes must decode to the same message with the real protos.
 */
import t from 'tap';
import { fullEnvoyRoot, TypeUrl, lookupType } from '../../../proto/index';
import { encodeProtoJson, fromProtoJson, ProtoJsonError } from '../../../proto/json';

const cluster = {
  name: 'backend',
  type: 'EDS',
  connect_timeout: '5s',
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
  per_connection_buffer_limit_bytes: 32768,
  outlier_detection: { consecutive_5xx: 5, interval: '0.250s', enforcing_success_rate: 0 },
  metadata: { filter_metadata: { 'envoy.lb': { 'kuma.io/zone': 'zone-1', weight: 2, on: true, list: ['a', null] } } },
  transport_socket: {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: 'backend{mesh=default}',
      common_tls_context: { alpn_protocols: ['kuma'] },
    },
  },
};

function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ProtoJsonError)) throw err;
    return err.message;
  }
  return '(nothing thrown)';
}

t.test('encoded bytes decode with the real protos to what the JSON says', async (t) => {
  const bytes = encodeProtoJson(TypeUrl.Cluster, cluster);
  const T = lookupType(TypeUrl.Cluster);
  const back = T.toObject(T.decode(bytes), { enums: String, longs: Number }) as any;
  t.equal(back.name, 'backend');
  t.equal(back.type, 'EDS');
  t.same(back.connect_timeout, { seconds: 5, nanos: 0 });
  t.equal(back.per_connection_buffer_limit_bytes.value, 32768, 'a wrapper is written from a plain number');
  t.same(back.outlier_detection.interval, { seconds: 0, nanos: 250_000_000 });
  t.equal(back.outlier_detection.enforcing_success_rate.value, 0, 'a zero wrapper is kept (it is not the default)');
  const lb = back.metadata.filter_metadata['envoy.lb'].fields;
  // (google.protobuf.Value keeps protobufjs's camelCase names in the bundle.)
  t.equal(lb['kuma.io/zone'].stringValue, 'zone-1', 'Struct values are not dropped');
  t.equal(lb.weight.numberValue, 2);
  t.equal(lb.on.boolValue, true);
  t.equal(lb.list.listValue.values.length, 2);
  t.equal(lb.list.listValue.values[1].nullValue, 'NULL_VALUE');
  const any = back.transport_socket.typed_config;
  t.equal(any.type_url, 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  const Tls = fullEnvoyRoot().lookupType('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  const tls = Tls.toObject(Tls.decode(any.value)) as any;
  t.equal(tls.sni, 'backend{mesh=default}');
  t.same(tls.common_tls_context.alpn_protocols, ['kuma']);
  // The same JSON, encoded twice (second time from the caches), gives the same bytes.
  t.same(Buffer.from(encodeProtoJson(TypeUrl.Cluster, cluster)), Buffer.from(bytes));
});

t.test('mistakes name the field, the value and what is valid', async (t) => {
  t.match(
    thrown(() => fromProtoJson(TypeUrl.Cluster, { ...cluster, conect_timeout: '1s' })),
    /^conect_timeout: unknown field of envoy\.config\.cluster\.v3\.Cluster; known fields: .*connect_timeout/,
  );
  t.match(
    thrown(() => fromProtoJson(TypeUrl.Cluster, { ...cluster, outlier_detection: { consecutive_5xx: 5, intervl: '1s' } })),
    /^outlier_detection\.intervl: unknown field of envoy\.config\.cluster\.v3\.OutlierDetection/,
  );
  t.match(thrown(() => fromProtoJson(TypeUrl.Cluster, { ...cluster, type: 'DNS' })), /^type: "DNS" is not a value of DiscoveryType; valid: STATIC, STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST/);
  t.match(thrown(() => fromProtoJson(TypeUrl.Cluster, { ...cluster, connect_timeout: '5 seconds' })), /^connect_timeout: duration must be a string like "5s"/);
  t.match(thrown(() => fromProtoJson(TypeUrl.Cluster, { ...cluster, name: 7 })), /^name: expected a string, got 7/);
  t.match(thrown(() => fromProtoJson(TypeUrl.Cluster, { ...cluster, cluster_type: { name: 'x' } })), /^cluster_type: oneof cluster_discovery_type already set by type/);
  t.match(
    thrown(() => fromProtoJson(TypeUrl.ClusterLoadAssignment, { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ load_balancing_weight: -1 }] }] })),
    /^endpoints\[0\]\.lb_endpoints\[0\]\.load_balancing_weight: expected a non-negative integer, got -1$/,
  );
  t.match(
    thrown(() => fromProtoJson(TypeUrl.Cluster, { ...cluster, transport_socket: { name: 'tls', typed_config: { '@type': 'type.googleapis.com/no.such.Type' } } })),
    /^transport_socket\.typed_config\.@type: unknown message type "type\.googleapis\.com\/no\.such\.Type"/,
  );
  t.match(thrown(() => fromProtoJson(TypeUrl.Cluster, { ...cluster, outlier_detection: 'on' })), /^outlier_detection: expected an object for message envoy\.config\.cluster\.v3\.OutlierDetection, got "on"/);
  t.match(thrown(() => fromProtoJson(TypeUrl.Cluster, { ...cluster, metadata: { filter_metadata: { x: [1] } } })), /^metadata\.filter_metadata\.x: Struct must be a JSON object/);
});
