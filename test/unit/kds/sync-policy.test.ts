import t from 'tap';
import type { Resource, ResourceInput } from '../../../api/resource';
import { ConflictError, ValidationError } from '../../../lib/errors';
import {
  checkFromGlobal,
  checkFromZone,
  globalStoredAsZoneWire,
  globalStoreInput,
  globalToZoneResources,
  isSyncedSecret,
  zoneToGlobalResources,
} from '../../../cp/kds/sync-policy';
import { globalWriteGuard, zoneWriteGuard } from '../../../cp/kds/write-guards';

function res(type: any, name: string, spec: Record<string, any>, labels?: Record<string, string>, mesh?: string): Resource {
  return { meta: { type, name, ...(mesh ? { mesh } : {}), version: '1', creationTime: '', modificationTime: '', ...(labels ? { labels } : {}) }, spec };
}
const ingress = (zone: string, name = 'ingress') => res('ZoneIngress', `${name}.${zone}-x`, { zone }, { 'kuma.io/origin': 'zone', 'kuma.io/zone': zone, 'kuma.io/display-name': name });

t.test('secrets: CA material and public keys go down, private signing keys never', async (t) => {
  t.ok(isSyncedSecret('Secret', 'default.ca-builtin-cert-ca-1'));
  t.ok(isSyncedSecret('Secret', 'default.ca-builtin-key-ca-1'));
  t.ok(isSyncedSecret('GlobalSecret', 'dataplane-token-signing-public-key-default'));
  t.notOk(isSyncedSecret('GlobalSecret', 'dataplane-token-signing-key-default'));
  t.notOk(isSyncedSecret('GlobalSecret', 'zone-token-signing-key-1'));
  t.notOk(isSyncedSecret('Secret', 'user-secret'));
  t.ok(isSyncedSecret('Secret', 'dataplane-token-signing-public-key-default'), 'mesh-scoped public key (cp/tokens names)');
  t.notOk(isSyncedSecret('Secret', 'dataplane-token-signing-key-default'), 'mesh-scoped private key');
  t.ok(isSyncedSecret('Secret', 'dataplane-token-revocations-default'));
  t.notOk(isSyncedSecret('GlobalSecret', 'zone-token-revocations'));
  t.notOk(isSyncedSecret('GlobalSecret', 'zone-token-signing-public-key-1'));
});

t.test('ingresses: never a zone\'s own, never a disabled zone\'s', async (t) => {
  const stored = [ingress('zone-1'), ingress('zone-2'), ingress('zone-3'), res('ZoneIngress', 'made-on-global', {})];
  const zones = [res('Zone', 'zone-1', { enabled: true }), res('Zone', 'zone-3', { enabled: false })];
  t.same(globalToZoneResources('ZoneIngress', 'zone-1', stored, zones).map((r) => r.name), ['ingress.zone-2-x']);
  t.same(globalToZoneResources('ZoneIngress', 'zone-2', stored, zones).map((r) => r.name), ['ingress.zone-1-x']);
  t.same(globalToZoneResources('ZoneIngress', 'zone-9', stored, []).map((r) => r.name), ['ingress.zone-1-x', 'ingress.zone-2-x', 'ingress.zone-3-x']);
});

t.test('an mTLS mesh is held until its builtin CA secrets exist', async (t) => {
  const mesh = res('Mesh', 'm', { mtls: { enabledBackend: 'ca', backends: [{ name: 'ca', type: 'builtin' }] } });
  const plain = res('Mesh', 'p', {});
  const cert = res('Secret', 'm.ca-builtin-cert-ca', {}, undefined, 'm');
  const key = res('Secret', 'm.ca-builtin-key-ca', {}, undefined, 'm');
  t.same(globalToZoneResources('Mesh', 'z', [mesh, plain], [], [cert]).map((r) => [r.name, !!r.hold]), [['m', true], ['p', false]]);
  t.same(globalToZoneResources('Mesh', 'z', [mesh, plain], [], [cert, key]).map((r) => [r.name, !!r.hold]), [['m', false], ['p', false]]);
});

t.test('policies go down with origin global; zone-made resources are not echoed', async (t) => {
  const out = globalToZoneResources('TrafficPermission', 'zone-1', [res('TrafficPermission', 'tp', {}, { team: 'a' }, 'default'), res('TrafficPermission', 'odd', {}, { 'kuma.io/origin': 'zone' }, 'default')], []);
  t.same(out, [{ type: 'TrafficPermission', mesh: 'default', name: 'tp', labels: { team: 'a', 'kuma.io/origin': 'global', 'kuma.io/display-name': 'tp' }, spec: {}, revision: '1' }]);
  t.same(checkFromGlobal('zone-1', out[0]), []);
  t.match(checkFromGlobal('zone-1', { ...out[0], labels: {} }), [{ field: 'labels["kuma.io/origin"]' }]);
  t.match(checkFromGlobal('zone-1', { type: 'ZoneIngress', name: 'i', labels: { 'kuma.io/origin': 'zone', 'kuma.io/zone': 'zone-1' }, spec: {} }), [{ message: /own ingress is never synced back/ }]);
});

t.test('zone -> global: labels, spec.zone, rename and its inverse', async (t) => {
  const local = [res('Dataplane', 'web-1', { networking: {} }, undefined, 'default'), res('ZoneIngress', 'ingress', {}), ingress('zone-2')];
  const dps = zoneToGlobalResources('Dataplane', 'zone-1', local.filter((r) => r.meta.type === 'Dataplane'));
  t.same(dps[0].labels, { 'kuma.io/origin': 'zone', 'kuma.io/zone': 'zone-1' });
  const ings = zoneToGlobalResources('ZoneIngress', 'zone-1', local.filter((r) => r.meta.type === 'ZoneIngress'));
  t.same(ings.map((r) => [r.name, r.spec.zone]), [['ingress', 'zone-1']], 'only the own ingress goes up, with spec.zone');
  const web = res('Dataplane', 'web-1', { networking: { inbound: [{ port: 1, tags: { 'kuma.io/service': 'web', 'kuma.io/zone': 'zone-1' } }] } }, undefined, 'default');
  const stale = res('ZoneIngress', 'ingress', { availableServices: [{ tags: { 'kuma.io/service': 'gone' }, instances: 9, mesh: 'default' }] });
  const sentIngress = zoneToGlobalResources('ZoneIngress', 'zone-1', [stale], [web])[0];
  t.same(sentIngress.spec.availableServices, [{ tags: { 'kuma.io/service': 'web', 'kuma.io/zone': 'zone-1' }, instances: 1, mesh: 'default' }], 'computed from the dataplanes at send time');
  t.equal(sentIngress.revision, undefined, 'no store revision: the content depends on the dataplanes');
  t.equal(zoneToGlobalResources('ZoneIngress', 'zone-1', [stale], [])[0].spec.availableServices, undefined, 'no dataplanes, no services');
  t.same(checkFromZone('zone-1', dps[0]), []);
  t.match(checkFromZone('zone-2', dps[0]), [{ field: 'labels["kuma.io/zone"]' }], 'a zone cannot speak for another');
  const input = globalStoreInput('zone-1', dps[0]);
  t.match(input.name, /^web-1\.zone-1-[0-9a-f]{10}$/);
  const stored = res('Dataplane', input.name, input.spec, input.labels, 'default');
  const { revision: _r, ...wire } = dps[0];
  void _r;
  t.same(globalStoredAsZoneWire('Dataplane', 'zone-1', stored), wire, 'inverse gives back the wire form');
  t.equal(globalStoredAsZoneWire('Dataplane', 'zone-2', stored), undefined);
});

t.test('write guards', async (t) => {
  const g = globalWriteGuard();
  t.throws(() => g('upsert', { type: 'Dataplane', mesh: 'default', name: 'x', spec: {} }, undefined), ValidationError);
  t.throws(() => g('delete', { type: 'ZoneIngress', name: 'i', spec: {} }, ingress('zone-1')), ConflictError);
  t.doesNotThrow(() => g('upsert', { type: 'TrafficRoute', mesh: 'default', name: 'r', spec: {} }, undefined));
  const z = zoneWriteGuard('zone-1');
  const fromGlobal = res('TrafficRoute', 'r', {}, { 'kuma.io/origin': 'global' }, 'default');
  t.throws(() => z('upsert', { type: 'TrafficRoute', mesh: 'default', name: 'r', spec: {} }, fromGlobal), /kuma\.io\/origin: global/);
  t.throws(() => z('delete', { type: 'ZoneIngress', name: 'i', spec: {} }, ingress('zone-2')), ConflictError);
  const dp: ResourceInput = { type: 'Dataplane', mesh: 'default', name: 'd', spec: { networking: { inbound: [{ port: 1, tags: { 'kuma.io/service': 'a' } }] } } };
  z('upsert', dp, undefined);
  t.equal(dp.spec.networking.inbound[0].tags['kuma.io/zone'], 'zone-1', 'the zone tag is added');
  const other: ResourceInput = { type: 'Dataplane', mesh: 'default', name: 'd', spec: { networking: { inbound: [{ port: 1, tags: { 'kuma.io/service': 'a', 'kuma.io/zone': 'zone-2' } }] } } };
  t.throws(() => z('upsert', other, undefined), /networking\.inbound\[0\]\.tags\["kuma\.io\/zone"\]/);
  const ing: ResourceInput = { type: 'ZoneIngress', name: 'i', spec: {} };
  z('upsert', ing, undefined);
  t.equal(ing.spec.zone, 'zone-1');
});
