import t from 'tap';
import { ValidationError } from '../../../lib/errors';
import { contentVersion, decodeResource, encodeResource, normalizeSpec, type KdsResource } from '../../../cp/kds/codec';
import { globalName } from '../../../cp/kds/global-names';
import { KUMA_RESOURCE_TYPE_URL, parseWireName } from '../../../cp/kds/kds-types';
import { encode, TYPE_PREFIX } from '../../../proto';

const dataplane: KdsResource = {
  type: 'Dataplane',
  mesh: 'default',
  name: 'web-1',
  labels: { 'kuma.io/origin': 'zone', 'kuma.io/zone': 'zone-1' },
  spec: {
    networking: {
      address: '127.0.0.1',
      inbound: [{ port: 10001, servicePort: 8080, tags: { 'kuma.io/service': 'web', version: 'v1' }, health: { ready: false } }],
      outbound: [{ port: 10002, tags: { 'kuma.io/service': 'db' } }],
    },
  },
};

const mesh: KdsResource = {
  type: 'Mesh',
  name: 'default',
  labels: { 'kuma.io/origin': 'global' },
  spec: {
    mtls: {
      enabledBackend: 'ca-1',
      backends: [{ name: 'ca-1', type: 'builtin', dpCert: { rotation: { expiration: '1h' } }, conf: { caCert: { RSAbits: 2048, expiration: '87600h' } } }],
    },
  },
};

t.test('round trip keeps spec, labels, name and mesh (Struct fields included)', async (t) => {
  for (const r of [dataplane, mesh]) {
    const v = contentVersion(r.type, r.spec, r.labels);
    const wire = encodeResource(r, v);
    t.equal(wire.resource.type_url, KUMA_RESOURCE_TYPE_URL);
    t.equal(wire.name, r.mesh ? `${r.mesh}/${r.name}` : r.name);
    const back = decodeResource(r.type, wire, 'resources[0]');
    t.same(back, r, `${r.type} decodes to what was encoded`);
    t.equal(contentVersion(back.type, back.spec, back.labels), v, 'receiver computes the same version');
  }
});

t.test('secret bytes travel as base64 and Zone enabled:false survives', async (t) => {
  const secret: KdsResource = { type: 'Secret', mesh: 'default', name: 'default.ca-builtin-cert-ca-1', labels: {}, spec: { data: Buffer.from('pem').toString('base64') } };
  t.same(decodeResource('Secret', encodeResource(secret, '1'), 'r'), secret);
  t.same(normalizeSpec('Secret', secret.spec), secret.spec);
});

t.test('versions differ when content differs and ignore key order', async (t) => {
  const a = contentVersion('Dataplane', dataplane.spec, dataplane.labels);
  const reordered = { networking: { outbound: dataplane.spec.networking.outbound, inbound: dataplane.spec.networking.inbound, address: '127.0.0.1' } };
  t.equal(contentVersion('Dataplane', reordered, dataplane.labels), a);
  t.not(contentVersion('Dataplane', { ...dataplane.spec, networking: { ...dataplane.spec.networking, address: '127.0.0.2' } }, dataplane.labels), a);
  t.not(contentVersion('Dataplane', dataplane.spec, { ...dataplane.labels, x: 'y' }), a);
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function expectViolation(t: any, fn: () => unknown, field: RegExp) {
  try {
    fn();
    t.fail('expected a ValidationError');
  } catch (err) {
    t.ok(err instanceof ValidationError, `ValidationError (${(err as Error).message})`);
    t.equal((err as ValidationError).code, 'ERR_VALIDATION');
    t.ok((err as ValidationError).violations.some((v) => field.test(v.field)), `a violation names ${field}: ${JSON.stringify((err as ValidationError).violations)}`);
  }
}

t.test('malformed wire resources are refused with field paths', async (t) => {
  const good = encodeResource(dataplane, 'v');
  expectViolation(t, () => decodeResource('Dataplane', { ...good, resource: { type_url: 'type.googleapis.com/foo.Bar', value: good.resource.value } }, 'resources[0]'), /^resources\[0\]\.resource\.type_url$/);
  expectViolation(t, () => decodeResource('Dataplane', { ...good, resource: { type_url: KUMA_RESOURCE_TYPE_URL, value: Buffer.from([0xff, 0xff, 0xff, 0x0f]) } }, 'resources[0]'), /^resources\[0\]\.resource\.value$/);
  expectViolation(t, () => decodeResource('Dataplane', { ...good, name: 'no-mesh' }, 'resources[1]'), /^resources\[1\]\.name$/);
  expectViolation(t, () => decodeResource('Dataplane', { name: 'default/x' }, 'resources[0]'), /resource$/);
  // A KumaResource whose spec Any holds a Mesh where a Dataplane belongs.
  const wrongSpec = encode('kuma.kds.v1.KumaResource', {
    meta: { name: 'web-1', mesh: 'default' },
    spec: { type_url: `${TYPE_PREFIX}kuma.mesh.v1alpha1.Mesh`, value: new Uint8Array() },
  });
  expectViolation(t, () => decodeResource('Dataplane', { name: 'default/web-1', resource: { type_url: KUMA_RESOURCE_TYPE_URL, value: wrongSpec } }, 'resources[0]'), /spec\.type_url$/);
  // Garbage spec bytes.
  const garbageSpec = encode('kuma.kds.v1.KumaResource', {
    meta: { name: 'web-1', mesh: 'default' },
    spec: { type_url: `${TYPE_PREFIX}kuma.mesh.v1alpha1.Dataplane`, value: Buffer.from('not a protobuf at all \xff\xff') },
  });
  expectViolation(t, () => decodeResource('Dataplane', { name: 'default/web-1', resource: { type_url: KUMA_RESOURCE_TYPE_URL, value: garbageSpec } }, 'resources[0]'), /spec\.value$/);
});

t.test('a spec that fails validation is refused', async (t) => {
  const bad = { ...dataplane, spec: { networking: { address: '127.0.0.1', inbound: [{ port: 70000, tags: {} }] } } };
  const wire = encodeResource({ ...bad, spec: { networking: { address: '127.0.0.1', inbound: [{ port: 1, tags: {} }] } } }, 'v');
  expectViolation(t, () => decodeResource('Dataplane', wire, 'resources[0]'), /^resources\[0\]\.networking\.inbound\[0\]/);
  t.throws(() => encodeResource({ ...bad, spec: { networking: { inbound: [{ port: 'abc' }] } } }, 'v'), /integer expected/, 'the encoder refuses a non-integer port');
  t.throws(() => encodeResource({ ...dataplane, spec: { nope: 1 } }, 'v'), /spec\.nope: unknown field/);
});

t.test('wire names and global names', async (t) => {
  t.same(parseWireName('Dataplane', 'default/web'), { mesh: 'default', name: 'web' });
  t.equal(parseWireName('Dataplane', 'web'), undefined);
  t.equal(parseWireName('Dataplane', 'a/b/c'), undefined);
  t.same(parseWireName('Mesh', 'default'), { name: 'default' });
  t.equal(parseWireName('Mesh', 'a/b'), undefined);
  const a = globalName('a.b', 'c');
  const b = globalName('a', 'b.c');
  t.not(a, b, 'dotted names of different zones do not collide');
  t.match(a, /^a\.b\.c-[0-9a-f]{10}$/);
  t.equal(globalName('web-1', 'zone-1'), globalName('web-1', 'zone-1'), 'stable');
  t.ok(globalName('x'.repeat(300), 'zone-1').length <= 253, 'long names are cut to 253');
});
