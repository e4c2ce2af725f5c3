/**
 * kuma-dp's cut of the Envoy bundle (dist/proto/envoy-agent.json, issue 4 idle RSS):
 * everything the CP emits for a sidecar or an ingress (the golden snapshots) must decode
 * with the agent's root exactly as with the full root; the cut is the build's pure,
 * deterministic function of the full bundle; the hand-built ADS client definition
 * converts messages exactly like @grpc/proto-loader did.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import * as protobuf from 'protobufjs';
import {
  ADS_SERVICE,
  AGENT_ENVOY_ROOTS,
  envoyBundleInUse,
  envoyRoot,
  fromStruct,
  fullEnvoyRoot,
  grpcPackageDefinition,
  grpcServiceDefinition,
  lookupType,
  TO_OBJECT,
  TypeUrl,
  unpackAny,
  toStruct,
  useEnvoyBundle,
} from '../../../proto/index';
import { encodeProtoJson } from '../../../proto/json';
import { pruneBundle, reachableNames } from '../../../proto/prune-bundle';

// Before anything loads a root, as kuma-dp's run does.
useEnvoyBundle('agent');

const goldenDir = path.resolve(__dirname, '../../../../test/golden/xds');
const bundleDir = path.resolve(__dirname, '../../../proto');
const KINDS: Record<string, string> = {
  Listener: TypeUrl.Listener,
  Cluster: TypeUrl.Cluster,
  ClusterLoadAssignment: TypeUrl.ClusterLoadAssignment,
  RouteConfiguration: TypeUrl.RouteConfiguration,
  Secret: TypeUrl.Secret,
};

/** Every `@type` in a proto-JSON document. */
function anyTypes(v: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) v.forEach((x) => anyTypes(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '@type' && typeof x === 'string') out.add(x);
      else anyTypes(x, out);
    }
  }
  return out;
}

t.test('the agent bundle is selected and smaller than the full one', async (t) => {
  t.equal(envoyBundleInUse(), 'agent');
  const agentTypes = reachableNames(envoyRoot(), AGENT_ENVOY_ROOTS);
  const all = reachableNames(fullEnvoyRoot(), []);
  t.equal(all.size, 0, 'no roots reach nothing');
  t.ok(envoyRoot() !== fullEnvoyRoot(), 'two distinct roots');
  t.notOk(envoyRoot().lookup('envoy.config.bootstrap.v3.Bootstrap'), 'Bootstrap is not in the cut');
  t.ok(fullEnvoyRoot().lookup('envoy.config.bootstrap.v3.Bootstrap'), 'but is in the full bundle');
  t.equal(lookupType('envoy.config.bootstrap.v3.Bootstrap').fullName, '.envoy.config.bootstrap.v3.Bootstrap', 'lookupType falls back to the full bundle');
  t.ok(agentTypes.has('envoy.config.listener.v3.Listener') && agentTypes.has(ADS_SERVICE));
  t.throws(() => useEnvoyBundle('full'), /already loaded/, 'switching after loading is refused');
  const size = (f: string) => fs.statSync(path.join(bundleDir, f)).size;
  t.ok(size('envoy-agent.json') < size('envoy.json'), `cut ${size('envoy-agent.json')} B < full ${size('envoy.json')} B`);
});

t.test('the built cut is pruneBundle(full bundle, AGENT_ENVOY_ROOTS), byte for byte', async (t) => {
  const full = JSON.parse(fs.readFileSync(path.join(bundleDir, 'envoy.json'), 'utf8'));
  const once = JSON.stringify(pruneBundle(full, AGENT_ENVOY_ROOTS));
  t.equal(once, fs.readFileSync(path.join(bundleDir, 'envoy-agent.json'), 'utf8'), 'build output is current');
  t.equal(JSON.stringify(pruneBundle(full, AGENT_ENVOY_ROOTS)), once, 'deterministic');
});

const goldens = fs.readdirSync(goldenDir).filter((f) => f.endsWith('.golden.yaml')).sort();
t.ok(goldens.length >= 6, 'golden snapshots exist');
for (const file of goldens) {
  t.test(`${file}: every resource decodes with the agent's root as with the full root`, async (t) => {
    const doc = YAML.parse(fs.readFileSync(path.join(goldenDir, file), 'utf8')) as Record<string, unknown[]>;
    let n = 0;
    for (const [kind, resources] of Object.entries(doc)) {
      const typeUrl = KINDS[kind];
      t.ok(typeUrl, `${kind} is an xDS kind kuma-dp subscribes to`);
      if (!typeUrl) continue;
      for (const json of resources) {
        for (const url of anyTypes(json)) t.ok(envoyRoot().lookup(url.slice(url.lastIndexOf('/') + 1)), `${url} is in the agent's root`);
        const bytes = encodeProtoJson(typeUrl, json);
        const full = fullEnvoyRoot().lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
        const viaAgent = unpackAny({ type_url: typeUrl, value: bytes });
        t.not(lookupType(typeUrl), full, 'decoded with the agent root, not the full one');
        t.same(viaAgent, full.toObject(full.decode(bytes), TO_OBJECT), `${kind} ${(json as any).name ?? (json as any).cluster_name}`);
        n++;
      }
    }
    t.ok(n > 0, `${n} resources`);
  });
}

t.test('an Any of a type outside the cut stays undecoded (the engine NACKs it by type URL)', async (t) => {
  const inner = fullEnvoyRoot().lookupType('envoy.extensions.clusters.aggregate.v3.ClusterConfig');
  const cluster = encodeProtoJson(TypeUrl.Cluster, {
    name: 'agg',
    cluster_type: { name: 'envoy.clusters.aggregate', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig', clusters: ['a', 'b'] } },
  });
  t.ok(inner);
  const obj = unpackAny({ type_url: TypeUrl.Cluster, value: cluster });
  t.equal(obj.cluster_type.typed_config.type_url, 'type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig');
  t.notOk(obj.cluster_type.typed_config['@type'], 'no @type: not decoded');
});

t.test('pruneBundle on a small fixture', async (t) => {
  // JSON as protobufjs writes it (its I* interfaces do not model map fields or optional comments).
  const bundle = {
    nested: {
      a: {
        nested: {
          Top: { fields: { m: { type: 'Outer.Inner', id: 1 }, e: { type: 'Color', id: 2 }, kv: { keyType: 'string', type: 'Val', id: 3 } } },
          Outer: { fields: { x: { type: 'Unused', id: 1 } }, nested: { Inner: { fields: { s: { type: 'string', id: 1 } } }, Dropped: { fields: {} } } },
          Color: { values: { RED: 0 } },
          Val: { fields: { n: { type: 'int64', id: 1 } } },
          Unused: { fields: {} },
          Svc: { methods: { Call: { requestType: 'Top', responseType: 'Resp' } } },
          Resp: { fields: {} },
          ext: { type: 'string', id: 1000, extend: 'Unused' },
        },
      },
      b: { nested: { Other: { fields: {} } } },
    },
  } as unknown as protobuf.INamespace;
  const out = pruneBundle(bundle, ['a.Top']);
  t.same(Object.keys((out.nested!.a as protobuf.INamespace).nested!), ['Top', 'Outer', 'Color', 'Val'], 'reached types, in input order');
  t.same((out.nested!.a as any).nested.Outer, { nested: { Inner: { fields: { s: { type: 'string', id: 1 } } } } }, 'an unreached enclosing message becomes a bare namespace');
  t.notOk(out.nested!.b, 'unreached packages go');
  const root = protobuf.Root.fromJSON(out);
  root.resolveAll();
  t.ok(root.lookupType('a.Top'), 'the cut resolves on its own');
  const withSvc = pruneBundle(bundle, ['a.Svc']);
  t.same(Object.keys((withSvc.nested!.a as any).nested).sort(), ['Color', 'Outer', 'Resp', 'Svc', 'Top', 'Val'], 'a service reaches its request and response types');
  t.equal(JSON.stringify(pruneBundle(bundle, ['a.Top'])), JSON.stringify(out), 'deterministic');
  t.throws(() => pruneBundle(bundle, ['a.Nope']), /"a\.Nope" is not a message, enum or service/);
});

t.test('grpcServiceDefinition converts ADS messages exactly as proto-loader does', async (t) => {
  const ours = grpcServiceDefinition(ADS_SERVICE)[ADS_SERVICE] as Record<string, any>;
  const theirs = grpcPackageDefinition()[ADS_SERVICE] as Record<string, any>;
  t.same(Object.keys(ours).sort(), Object.keys(theirs).sort(), 'same methods');
  for (const name of Object.keys(theirs)) {
    for (const k of ['path', 'requestStream', 'responseStream', 'originalName']) t.equal(ours[name][k], theirs[name][k], `${name}.${k}`);
  }
  const m = 'StreamAggregatedResources';
  const listener = encodeProtoJson(TypeUrl.Listener, { name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 1 } } });
  const resp = { version_info: '7', nonce: 'n', type_url: TypeUrl.Listener, resources: [{ type_url: TypeUrl.Listener, value: Buffer.from(listener) }] };
  const wire = theirs[m].responseSerialize(resp);
  t.same(ours[m].responseSerialize(resp), wire, 'same bytes');
  t.same(ours[m].responseDeserialize(wire), theirs[m].responseDeserialize(wire), 'same object (Any kept as type_url + value)');
  const req = { version_info: '', response_nonce: '', type_url: TypeUrl.Cluster, resource_names: [], node: { id: 'x', metadata: toStruct({ a: 'b', n: 2, nested: { on: true } }) }, error_detail: { code: 3, message: 'no' } };
  t.same(ours[m].requestSerialize(req), theirs[m].requestSerialize(req), 'request bytes');
  t.same(ours[m].requestDeserialize(ours[m].requestSerialize(req)), theirs[m].requestDeserialize(theirs[m].requestSerialize(req)), 'request object');
  // What kuma-dp's embedded engine puts in node.metadata is what the CP reads from it.
  t.same(fromStruct(theirs[m].requestDeserialize(ours[m].requestSerialize(req)).node.metadata), { a: 'b', n: 2, nested: { on: true } }, 'node metadata survives the wire');
  t.throws(() => ours[m].requestSerialize([]), /expected object/);
  t.throws(() => grpcServiceDefinition('envoy.nope.Svc'), /unknown gRPC service/);
});
