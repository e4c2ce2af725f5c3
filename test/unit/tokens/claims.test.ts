/** Pure token claim rules: reading claims, matching expectations (403 texts), revocation lists. */
import t from 'tap';
import { checkExpectation, parseRevocations, readClaims } from '../../../cp/tokens/claims';
import { isDataplanePublicKeyName, dataplanePublicKeyName } from '../../../cp/tokens/names';

t.test('readClaims', async (t) => {
  const c = readClaims({ kind: 'dataplane', mesh: 'm1', name: 'dp-1', tags: { 'kuma.io/service': ['web'] }, jti: 'id-1', exp: 100 });
  t.same(c, { kind: 'dataplane', id: 'id-1', mesh: 'm1', name: 'dp-1', tags: { 'kuma.io/service': ['web'] }, expiresAt: new Date(100_000) });
  t.throws(() => readClaims({ kind: 'root', jti: 'x' }), { code: 'ERR_AUTH', status: 401, message: /kind/ });
  t.throws(() => readClaims({ kind: 'dataplane', mesh: 'm' }), { status: 401, message: /jti/ });
  t.throws(() => readClaims({ kind: 'dataplane', jti: 'x' }), { status: 401, message: /mesh/ });
  t.throws(() => readClaims({ kind: 'zone', jti: 'x' }), { status: 401, message: /zone/ });
  t.throws(() => readClaims({ kind: 'dataplane', mesh: 'm', jti: 'x', tags: { a: 'b' } }), { status: 401, message: /tags/ });
  t.throws(() => readClaims({ kind: 'dataplane', mesh: 3, jti: 'x' }), { status: 401, message: /mesh/ });
});

t.test('checkExpectation: 403 naming expected vs got', async (t) => {
  const dp = { kind: 'dataplane' as const, id: 'x', mesh: 'm1', name: 'dp-1' };
  checkExpectation(dp, { kind: 'dataplane', mesh: 'm1', name: 'dp-1' });
  t.throws(() => checkExpectation(dp, { kind: 'dataplane', mesh: 'm2' }), { status: 403, message: 'token is for mesh "m1", expected mesh "m2"' });
  t.throws(() => checkExpectation(dp, { kind: 'dataplane', mesh: 'm1', name: 'dp-2' }), { status: 403, message: /"dp-1", expected "dp-2"/ });
  t.throws(() => checkExpectation(dp, { kind: 'ingress' }), { status: 403, message: 'token is a dataplane token, expected a ingress token' });
  // A token without a name serves any proxy of its mesh.
  checkExpectation({ kind: 'dataplane', id: 'x', mesh: 'm1' }, { kind: 'dataplane', mesh: 'm1', name: 'any' });
  const zone = { kind: 'zone' as const, id: 'x', zone: 'z1', scope: ['cp'] };
  checkExpectation(zone, { kind: 'zone', zone: 'z1' });
  t.throws(() => checkExpectation(zone, { kind: 'zone', zone: 'z2' }), { status: 403, message: /zone "z1", expected zone "z2"/ });
  t.throws(() => checkExpectation({ ...zone, scope: ['ingress'] }, { kind: 'zone', zone: 'z1' }), { status: 403, message: /scope \["ingress"\], expected it to include "cp"/ });
  checkExpectation({ ...zone, scope: ['ingress'] }, { kind: 'zone', zone: 'z1', scope: 'ingress' });
});

t.test('parseRevocations accepts lines and commas', async (t) => {
  t.same([...parseRevocations('a\nb, c,,\n\n d ')].sort(), ['a', 'b', 'c', 'd']);
  t.equal(parseRevocations('').size, 0);
});

t.test('key ids a token may name', async (t) => {
  t.ok(isDataplanePublicKeyName('m1', dataplanePublicKeyName('m1')));
  t.ok(isDataplanePublicKeyName('m1', dataplanePublicKeyName('m1', 'zone-1')));
  t.notOk(isDataplanePublicKeyName('m1', dataplanePublicKeyName('m2')));
  t.notOk(isDataplanePublicKeyName('m1', 'm1.ca-builtin-cert-ca-1'));
});
