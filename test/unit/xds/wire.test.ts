/**
 * cp/xds/server/wire.ts writes ADS responses without protobufjs: its bytes must be the
 * bytes protobufjs (through @grpc/proto-loader, the encoding the server used before)
 * writes for the same message, and decode to the same message with the real protos.
 * Lengths cross the varint boundaries (127/128, 16383/16384) and names are not ASCII.
 */
import crypto from 'node:crypto';
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { grpcPackageDefinition, TypeUrl } from '../../../proto/index';
import { encodeDeltaDiscoveryResponse, encodeDiscoveryResponse } from '../../../cp/xds/server/wire';
import { frame } from '../../../lib/grpc-framing';
import type { SnapshotResource } from '../../../cp/xds/cache/snapshot';

const ADS = (grpc.loadPackageDefinition(grpcPackageDefinition()) as any).envoy.service.discovery.v3.AggregatedDiscoveryService.service;
const sotw = ADS.StreamAggregatedResources;
const delta = ADS.DeltaAggregatedResources;

const SIZES = [0, 1, 127, 128, 300, 16383, 16384, 70_000];
const TYPES = Object.values(TypeUrl);

function resource(i: number): SnapshotResource {
  const size = SIZES[i % SIZES.length];
  const name = `${['svc', 'サービス', 'ü'][i % 3]}-${i}-${'x'.repeat(i % 130)}`;
  const value = crypto.randomBytes(size);
  return { name, json: {}, any: { type_url: TYPES[i % TYPES.length], value }, version: crypto.randomBytes(8).toString('hex') };
}

t.test('SotW responses: same bytes as protobufjs, same message back', async (t) => {
  for (let n = 0; n < 40; n++) {
    const resources = Array.from({ length: n % 9 }, (_, k) => resource(n * 7 + k));
    const m = { version_info: n % 5 === 0 ? '' : crypto.randomBytes(8).toString('hex'), resources, type_url: TYPES[n % TYPES.length], nonce: String(n * 1000) };
    const ours = encodeDiscoveryResponse(m);
    const theirs = sotw.responseSerialize({ ...m, resources: resources.map((r) => r.any) });
    t.same(ours, theirs, `response ${n} (${resources.length} resources)`);
    const back = sotw.responseDeserialize(ours);
    t.equal((back.resources ?? []).length, resources.length);
    resources.forEach((r, k) => t.ok(Buffer.from(back.resources[k].value).equals(Buffer.from(r.any.value)) && back.resources[k].type_url === r.any.type_url));
  }
});

t.test('delta responses: same bytes as protobufjs, same message back', async (t) => {
  for (let n = 0; n < 40; n++) {
    const resources = Array.from({ length: n % 6 }, (_, k) => resource(n * 5 + k));
    const removed = Array.from({ length: n % 4 }, (_, k) => `gone-${k}-${'é'.repeat(n * 3)}`);
    const m = { system_version_info: crypto.randomBytes(8).toString('hex'), resources, type_url: TYPES[n % TYPES.length], removed_resources: removed, nonce: String(n) };
    const ours = encodeDeltaDiscoveryResponse(m);
    const theirs = delta.responseSerialize({ ...m, resources: resources.map((r) => ({ name: r.name, version: r.version, resource: r.any })) });
    t.same(ours, theirs, `delta response ${n}`);
    const back = delta.responseDeserialize(ours);
    t.same(back.removed_resources ?? [], removed);
    t.same((back.resources ?? []).map((r: any) => [r.name, r.version]), resources.map((r) => [r.name, r.version]));
  }
});

t.test('a resource entry is built once and reused', async (t) => {
  const r = resource(3);
  const a = encodeDiscoveryResponse({ version_info: 'v', resources: [r], type_url: TypeUrl.Cluster, nonce: '1' });
  const b = encodeDiscoveryResponse({ version_info: 'v', resources: [r, r], type_url: TypeUrl.Cluster, nonce: '2' });
  t.equal(b.length, a.length + (a.length - encodeDiscoveryResponse({ version_info: 'v', resources: [], type_url: TypeUrl.Cluster, nonce: '1' }).length));
});

t.test('framed: the gRPC prefix and the same message bytes, in one buffer', async (t) => {
  const m = { version_info: '1', resources: [resource(1), resource(2)], type_url: TypeUrl.Listener, nonce: '9' };
  t.same(encodeDiscoveryResponse(m, true), frame(encodeDiscoveryResponse(m)), 'SotW');
  const d = { system_version_info: '1', resources: [resource(1)], type_url: TypeUrl.Cluster, removed_resources: ['gone'], nonce: '3' };
  t.same(encodeDeltaDiscoveryResponse(d, true), frame(encodeDeltaDiscoveryResponse(d)), 'delta');
  const f = encodeDiscoveryResponse(m, true);
  t.equal(f[0], 0, 'uncompressed');
  t.equal(f.readUInt32BE(1), f.length - 5, 'length prefix');
});
