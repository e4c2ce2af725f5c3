/**
 * The engine accepts what the CP generates: every golden output in test/golden/xds is
 * encoded with the real Envoy protos, decoded the way the ADS client decodes it, and
 * validated as one update. HTTP/2 upstreams (gRPC services) are outside the engine's
 * subset and must be refused with the field named, never silently ignored.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { decode, ExtensionTypeUrl, TypeUrl } from '../../../proto/index';
import { encodeProtoJson } from '../../../proto/json';
import { referencedNames, validate, type RawResources } from '../../../agent/engine/embedded/config/validate';
import { createCa, identity } from '../../integration/engine/harness/pki';

const dir = path.resolve(__dirname, '../../../../test/golden/xds');
const KEYS: Record<string, [keyof RawResources, string]> = {
  Listener: ['listeners', TypeUrl.Listener],
  Cluster: ['clusters', TypeUrl.Cluster],
  ClusterLoadAssignment: ['assignments', TypeUrl.ClusterLoadAssignment],
  RouteConfiguration: ['routes', TypeUrl.RouteConfiguration],
  Secret: ['secrets', TypeUrl.Secret],
};

const ca = createCa('default');
const real = identity(ca, 'default', 'web');

/** Golden YAML -> decoded resources, with the placeholder PEMs replaced by real ones. */
function load(doc: Record<string, any[]>): RawResources {
  const raw: RawResources = { listeners: new Map(), clusters: new Map(), assignments: new Map(), routes: new Map(), secrets: new Map() };
  for (const [kind, items] of Object.entries(doc)) {
    const [key, url] = KEYS[kind];
    for (const json of items) {
      if (kind === 'Secret') {
        if (json.tls_certificate) json.tls_certificate = { certificate_chain: { inline_string: real.certPem }, private_key: { inline_string: real.keyPem } };
        if (json.validation_context) json.validation_context = { trusted_ca: { inline_string: ca.certPem } };
      }
      const obj = decode(url, encodeProtoJson(url, json));
      raw[key].set(obj.name ?? obj.cluster_name, obj);
    }
  }
  return raw;
}

/**
 * What the engine refuses on purpose, recognised by the golden's content so that new
 * goldens are covered too: transparent proxying (bind_to_port false, use_original_dst,
 * ORIGINAL_DST clusters need iptables and SO_ORIGINAL_DST, which Node cannot read) and
 * proxyless gRPC's api_listener (for gRPC clients, not proxies).
 */
const REFUSED: [RegExp, RegExp][] = [
  [/use_original_dst/, /use_original_dst: field not supported/],
  [/bind_to_port/, /bind_to_port: field not supported/],
  [/api_listener/, /api_listener: field not supported/],
];

for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.golden.yaml')).sort()) {
  t.test(file, async (t) => {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    const raw = load(YAML.parse(text));
    const r = validate(raw);
    const refusals = REFUSED.filter(([has]) => has.test(text));
    if (refusals.length) {
      t.notOk(r.ok, 'refused');
      if (!r.ok) for (const [, why] of refusals) t.match(r.problems.join('\n'), why);
      return;
    }
    t.ok(r.ok, r.ok ? 'accepted' : r.problems.join('\n'));
    if (!r.ok) return;
    t.equal(r.config.listeners.size, raw.listeners.size, 'every listener translated');
    t.equal(r.config.clusters.size, raw.clusters.size, 'every cluster translated');
    const refs = referencedNames(raw);
    for (const n of refs.eds) t.ok(raw.assignments.has(n), `EDS ${n} present in the golden output`);
    for (const n of refs.rds) t.ok(raw.routes.has(n), `RDS ${n} present`);
    for (const n of refs.sds) t.ok(raw.secrets.has(n), `SDS ${n} present`);
  });
}

t.test('02: the model matches what the resources say', async (t) => {
  const raw = load(YAML.parse(fs.readFileSync(path.join(dir, '02.sidecar-mtls-http-split.golden.yaml'), 'utf8')));
  const r = validate(raw);
  if (!r.ok) return t.fail(r.problems.join('\n'));
  const inbound = r.config.listeners.get('inbound:10.0.0.1:8080')!;
  t.same(inbound.chains[0].tls?.sanMatchers, [{ kind: 'prefix', value: 'spiffe://default/', ignoreCase: false }]);
  t.equal(inbound.chains[0].rbac?.policies[0].principals.length, 2);
  const rc = r.config.routes.get('outbound:backend')!;
  t.same(rc.virtualHosts[0].routes[1].target, { kind: 'weighted', total: 100, clusters: [{ name: 'backend-29b0755bfdd44a17', weight: 80 }, { name: 'backend-9d19bca9a4b60d64', weight: 20 }] });
  t.same(rc.virtualHosts[0].routes[0].headers.map((h) => h.name), [':method', 'x-canary']);
  const cl = r.config.clusters.get('backend-29b0755bfdd44a17')!;
  t.same(cl.tls, { sni: 'backend{mesh=default,version=v1}', alpn: ['kuma'], certSecret: 'identity_cert', caSecret: 'mesh_ca', sanMatchers: [{ kind: 'exact', value: 'spiffe://default/backend', ignoreCase: false }] });
  t.equal(cl.connectTimeoutMs, 5000);
});

t.test('problems are collected with resource and field paths', async (t) => {
  const url = TypeUrl.Listener;
  const bad = {
    name: 'outbound:x',
    address: { socket_address: { address: 'not-an-ip', port_value: 80 } },
    filter_chains: [
      { filters: [{ name: 'a', typed_config: { '@type': ExtensionTypeUrl.SniCluster } }] },
      { filters: [{ name: 'b', typed_config: { '@type': ExtensionTypeUrl.TcpProxy, stat_prefix: 'x' } }] },
    ],
  };
  const raw: RawResources = { listeners: new Map([['outbound:x', decode(url, encodeProtoJson(url, bad))]]), clusters: new Map(), assignments: new Map(), routes: new Map(), secrets: new Map() };
  const r = validate(raw);
  t.notOk(r.ok);
  if (r.ok) return;
  t.same(r.problems, [
    'listener "outbound:x": address.socket_address.address: must be an IP address, got "not-an-ip"',
    `listener "outbound:x": filter_chains[0].filters[0]: unsupported filter type "${ExtensionTypeUrl.SniCluster}"; supported: ${ExtensionTypeUrl.NetworkRbac}, ${ExtensionTypeUrl.TcpProxy}, ${ExtensionTypeUrl.HttpConnectionManager}`,
    'listener "outbound:x": filter_chains[1].filters[0].typed_config: needs cluster or weighted_clusters',
  ]);
  const secretUrl = TypeUrl.Secret;
  const s = decode(secretUrl, encodeProtoJson(secretUrl, { name: 'identity_cert', tls_certificate: { certificate_chain: { inline_string: 'junk' }, private_key: { inline_string: 'junk' } } }));
  const r2 = validate({ listeners: new Map(), clusters: new Map(), assignments: new Map(), routes: new Map(), secrets: new Map([['identity_cert', s]]) });
  t.notOk(r2.ok);
  if (!r2.ok) t.match(r2.problems[0], /^secret "identity_cert": tls_certificate: certificate chain and private key are unusable/);
});

t.test('a filter of a type our protos do not know is named by its type URL', async (t) => {
  const url = TypeUrl.Listener;
  const t2 = (await import('../../../proto/index')).lookupType(url);
  const unknownType = 'type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy';
  const msg = t2.fromObject({ name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 1 } }, filter_chains: [{ filters: [{ name: 'redis', typed_config: { type_url: unknownType, value: Buffer.from([10, 1, 97]) } }] }] });
  const obj = decode(url, t2.encode(msg).finish());
  const r = validate({ listeners: new Map([['l', obj]]), clusters: new Map(), assignments: new Map(), routes: new Map(), secrets: new Map() });
  t.notOk(r.ok);
  if (!r.ok) t.match(r.problems[0], `listener "l": filter_chains[0].filters[0]: unsupported filter type "${unknownType}"`);
});

t.test('explicit HTTP/2 upstream (gRPC services) is accepted; other protocol options are not', async (t) => {
  const url = TypeUrl.Cluster;
  const base = { name: 'grpc', type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } }, connect_timeout: '5s' };
  const h2 = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': ExtensionTypeUrl.HttpProtocolOptions, explicit_http_config: { http2_protocol_options: {} } } };
  const ok = validate({ listeners: new Map(), clusters: new Map([['grpc', decode(url, encodeProtoJson(url, { ...base, typed_extension_protocol_options: h2 }))]]), assignments: new Map(), routes: new Map(), secrets: new Map() });
  t.ok(ok.ok && ok.config.clusters.get('grpc')!.http2, 'http2 cluster');
  const tuned = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': ExtensionTypeUrl.HttpProtocolOptions, explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 5 } } } };
  const bad = validate({ listeners: new Map(), clusters: new Map([['grpc', decode(url, encodeProtoJson(url, { ...base, typed_extension_protocol_options: tuned }))]]), assignments: new Map(), routes: new Map(), secrets: new Map() });
  t.notOk(bad.ok);
  if (!bad.ok) t.match(bad.problems[0], 'http2_protocol_options.max_concurrent_streams: field not supported');
});

t.test("common_http_protocol_options.idle_timeout (the CP's mesh clusters) is read into the model, with HTTP/1.1 or HTTP/2", async (t) => {
  const url = TypeUrl.Cluster;
  const base = { name: 'c', type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } }, connect_timeout: '5s' };
  const run = (explicit: Record<string, unknown>, common: Record<string, unknown>) =>
    validate({
      listeners: new Map(),
      clusters: new Map([['c', decode(url, encodeProtoJson(url, { ...base, typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': ExtensionTypeUrl.HttpProtocolOptions, explicit_http_config: explicit, common_http_protocol_options: common } } }))]]),
      assignments: new Map(),
      routes: new Map(),
      secrets: new Map(),
    });
  const h1 = run({ http_protocol_options: {} }, { idle_timeout: '3600s' });
  t.ok(h1.ok);
  if (h1.ok) t.same([h1.config.clusters.get('c')!.http2, h1.config.clusters.get('c')!.idleTimeoutMs], [false, 3_600_000], 'HTTP/1.1, 1 h');
  const h2 = run({ http2_protocol_options: {} }, { idle_timeout: '0.250s' });
  t.ok(h2.ok);
  if (h2.ok) t.same([h2.config.clusters.get('c')!.http2, h2.config.clusters.get('c')!.idleTimeoutMs], [true, 250], 'HTTP/2, 250 ms');
  const none = run({ http_protocol_options: {} }, { idle_timeout: '0s' });
  t.ok(none.ok && none.config.clusters.get('c')!.idleTimeoutMs === 0, '0s: no limit (0)');
  const bad = run({ http_protocol_options: {} }, { idle_timeout: '60s', max_headers_count: 50 });
  t.notOk(bad.ok);
  if (!bad.ok) t.match(bad.problems[0], 'common_http_protocol_options.max_headers_count: field not supported');
});

t.test("an HCM's common_http_protocol_options.idle_timeout is read into the chain's model; other fields there are refused", async (t) => {
  const url = TypeUrl.Listener;
  const listener = (common: Record<string, unknown> | undefined) => ({
    name: 'out',
    address: { socket_address: { address: '127.0.0.1', port_value: 8080 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': ExtensionTypeUrl.HttpConnectionManager,
              stat_prefix: 'out',
              ...(common ? { common_http_protocol_options: common } : {}),
              route_config: { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] }] },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ExtensionTypeUrl.Router } }],
            },
          },
        ],
      },
    ],
  });
  const run = (common: Record<string, unknown> | undefined) =>
    validate({ listeners: new Map([['out', decode(url, encodeProtoJson(url, listener(common)))]]), clusters: new Map(), assignments: new Map(), routes: new Map(), secrets: new Map() });
  const idleOf = (r: ReturnType<typeof run>) => (r.ok ? (r.config.listeners.get('out')!.chains[0].terminal as { idleTimeoutMs?: number }).idleTimeoutMs : 'refused');
  t.equal(idleOf(run(undefined)), undefined, 'none set: the engine default applies');
  t.equal(idleOf(run({ idle_timeout: '30s' })), 30_000, '30s');
  t.equal(idleOf(run({ idle_timeout: '0s' })), 0, '0s: no limit');
  const bad = run({ idle_timeout: '30s', max_connection_duration: '60s' });
  t.notOk(bad.ok);
  if (!bad.ok) t.match(bad.problems[0], 'common_http_protocol_options.max_connection_duration: field not supported');
});

t.test('outlier_detection: the consecutive detectors with Envoy defaults; an enforcing detector the engine lacks is refused', async (t) => {
  const url = TypeUrl.Cluster;
  const base = { name: 'c', type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } }, connect_timeout: '5s' };
  const run = (od: Record<string, unknown>) =>
    validate({ listeners: new Map(), clusters: new Map([['c', decode(url, encodeProtoJson(url, { ...base, outlier_detection: od }))]]), assignments: new Map(), routes: new Map(), secrets: new Map() });
  const defaults = run({});
  t.ok(defaults.ok);
  if (defaults.ok) t.same(defaults.config.clusters.get('c')!.outlier, { consecutive5xx: 5, enforcing5xx: 100, consecutiveGateway: 5, enforcingGateway: 0, baseEjectionMs: 30000, maxEjectionMs: 300000, maxEjectionPercent: 10 }, "Envoy's defaults");
  const set = run({ consecutive_5xx: 3, base_ejection_time: '10s', max_ejection_percent: 50, enforcing_success_rate: 0, interval: '1s' });
  t.ok(set.ok, set.ok ? 'accepted' : set.problems.join('\n'));
  if (set.ok) t.match(set.config.clusters.get('c')!.outlier, { consecutive5xx: 3, baseEjectionMs: 10000, maxEjectionPercent: 50 });
  const long = run({ base_ejection_time: '600s' });
  if (long.ok) t.equal(long.config.clusters.get('c')!.outlier!.maxEjectionMs, 600000, 'max_ejection_time defaults to at least base_ejection_time');
  const sr = run({ enforcing_success_rate: 100 });
  t.notOk(sr.ok);
  if (!sr.ok) t.match(sr.problems[0], /cluster "c": outlier_detection\.enforcing_success_rate: 100: success-rate and failure-percentage ejection are not implemented/);
});
