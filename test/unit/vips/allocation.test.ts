/** Pure VIP allocation: uniqueness across meshes, stickiness, release grace, cursor, CIDR change, exhaustion, determinism. */
import t from 'tap';
import { allocate, liveTables, parseCidr, parseState, usableCount, usableOffset, ipToInt, intToIp } from '../../../cp/vips/allocation';
import { servicesByMesh } from '../../../cp/vips/services';

const want = (o: Record<string, string[]>) => new Map(Object.entries(o).map(([m, s]) => [m, new Set(s)]));
const table = (s: ReturnType<typeof allocate>['state']) => Object.fromEntries([...liveTables(s)].map(([m, t]) => [m, Object.fromEntries(t)]));

t.test('CIDR parsing and usable addresses', async (t) => {
  t.same(parseCidr('240.0.0.0/4'), { base: ipToInt('240.0.0.0'), size: 2 ** 28 });
  t.same(parseCidr('127.64.1.2/10'), { base: ipToInt('127.64.0.0'), size: 2 ** 22 }, 'host bits cleared');
  t.throws(() => parseCidr('fd00::/8'), { code: 'ERR_VALIDATION', message: /KUMA_DNS_SERVER_CIDR/ });
  t.throws(() => parseCidr('10.0.0.0/33'), { code: 'ERR_VALIDATION' });
  t.throws(() => parseCidr('300.0.0.0/8'), { code: 'ERR_VALIDATION' });
  t.equal(intToIp(ipToInt('255.1.2.3')!), '255.1.2.3');
  t.equal(usableCount(parseCidr('10.0.0.0/24')), 254);
  t.equal(usableCount(parseCidr('10.0.0.0/16')), 256 * 254);
  t.equal(usableCount(parseCidr('10.0.0.0/30')), 2);
  t.equal(usableCount(parseCidr('10.0.0.7/32')), 1);
  const r = parseCidr('10.0.0.0/16');
  t.notOk(usableOffset(r, 0));
  t.notOk(usableOffset(r, 255));
  t.notOk(usableOffset(r, 256));
  t.ok(usableOffset(r, 257));
});

t.test('unique across meshes, sorted placement, skips network address', async (t) => {
  const { state, exhausted } = allocate(undefined, want({ m2: ['web'], m1: ['web', 'backend'] }), { cidr: '240.0.0.0/4', now: 0 });
  t.same(exhausted, []);
  t.same(table(state), { m1: { backend: '240.0.0.1', web: '240.0.0.2' }, m2: { web: '240.0.0.3' } });
  const again = allocate(undefined, want({ m1: ['backend', 'web'], m2: ['web'] }), { cidr: '240.0.0.0/4', now: 0 });
  t.same(again.state, state, 'deterministic regardless of input order');
});

t.test('sticky: existing VIPs never move; new services do not take released VIPs early', async (t) => {
  const cidr = '127.64.0.0/10';
  let s = allocate(undefined, want({ m: ['a', 'b', 'c'] }), { cidr, now: 0 }).state;
  t.same(table(s), { m: { a: '127.64.0.1', b: '127.64.0.2', c: '127.64.0.3' } });
  s = allocate(s, want({ m: ['a', 'c', 'aa'] }), { cidr, now: 1000 }).state;
  t.same(table(s), { m: { a: '127.64.0.1', aa: '127.64.0.4', c: '127.64.0.3' } }, 'b released, aa takes a fresh VIP');
  t.equal(s.entries.find((e) => e.service === 'b')?.releasedAt, 1000);
  s = allocate(s, want({ m: ['a', 'aa', 'b', 'c'] }), { cidr, now: 2000 }).state;
  t.equal(table(s).m.b, '127.64.0.2', 'b back within the grace period gets its VIP back');
  s = allocate(s, want({ m: ['a'] }), { cidr, now: 3000, releaseGraceMs: 10_000 }).state;
  s = allocate(s, want({ m: ['a'] }), { cidr, now: 20_000, releaseGraceMs: 10_000 }).state;
  t.same(s.entries.map((e) => e.service), ['a'], 'released entries expire after the grace');
  s = allocate(s, want({ m: ['a', 'b'] }), { cidr, now: 21_000, releaseGraceMs: 10_000 }).state;
  t.equal(table(s).m.b, '127.64.0.5', 'cursor keeps walking the range');
});

t.test('exhaustion is reported, reclaims released VIPs, never throws', async (t) => {
  const cidr = '10.0.0.0/30'; // two usable addresses
  let r = allocate(undefined, want({ m: ['a', 'b', 'c'] }), { cidr, now: 0 });
  t.same(r.exhausted, [{ mesh: 'm', service: 'c' }]);
  t.same(table(r.state), { m: { a: '10.0.0.1', b: '10.0.0.2' } });
  r = allocate(r.state, want({ m: ['a', 'c'] }), { cidr, now: 5 });
  t.same(r.exhausted, []);
  t.same(table(r.state), { m: { a: '10.0.0.1', c: '10.0.0.2' } }, 'c reclaims the VIP b released');
});

t.test('CIDR change re-allocates what falls outside; garbage state starts afresh', async (t) => {
  const s = allocate(undefined, want({ m: ['a'] }), { cidr: '240.0.0.0/4', now: 0 }).state;
  const moved = allocate(s, want({ m: ['a'] }), { cidr: '127.64.0.0/10', now: 0 }).state;
  t.same(table(moved), { m: { a: '127.64.0.1' } });
  t.equal(parseState('not json'), undefined);
  t.equal(parseState('{"cidr":1}'), undefined);
  t.same(parseState(JSON.stringify(s)), s);
});

t.test('services: dataplane inbounds and ingress availableServices per mesh', async (t) => {
  const dp = (mesh: string, ...services: string[]) => ({
    meta: { type: 'Dataplane' as const, mesh, name: 'x', version: '1', creationTime: '', modificationTime: '' },
    spec: { networking: { inbound: services.map((s) => ({ port: 1, tags: { 'kuma.io/service': s } })) } },
  });
  const zi = {
    meta: { type: 'ZoneIngress' as const, name: 'zi', version: '1', creationTime: '', modificationTime: '' },
    spec: { availableServices: [{ mesh: 'm1', tags: { 'kuma.io/service': 'billing' }, instances: 1 }, { mesh: 'm2', tags: { 'kuma.io/service': 'x' } }, { tags: {} }] },
  };
  const s = servicesByMesh([dp('m1', 'web', 'api'), dp('m1', 'web')], [zi]);
  t.same(Object.fromEntries([...s].map(([m, v]) => [m, [...v].sort()])), { m1: ['api', 'billing', 'web'], m2: ['x'] });
});
