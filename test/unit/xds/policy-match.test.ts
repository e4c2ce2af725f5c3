/** Policy selection (most specific wins), node id parsing, and the default-policies component. */
import t from 'tap';
import type { Resource } from '../../../api/resource';
import { selectTrafficPermission, selectTrafficRoute } from '../../../cp/xds/generators/policy-match';
import { parseProxyId } from '../../../cp/xds/server/proxy-id';
import { FEATURE_CLUSTER_IDLE_TIMEOUT } from '../../../lib/client-features';
import { DefaultPoliciesComponent } from '../../../cp/xds/server/default-policies';
import { MemoryStore } from '../../../cp/store/memory-store';
import { silentLogger } from '../../../lib/logger';

const policy = (type: 'TrafficRoute' | 'TrafficPermission', name: string, src: Record<string, string>, dst: Record<string, string>): Resource => ({
  meta: { type, mesh: 'default', name, version: '1', creationTime: '', modificationTime: '' },
  spec: { sources: [{ match: src }], destinations: [{ match: dst }], conf: {} },
});

t.test('TrafficRoute: exact beats wildcard; source specificity counts; name breaks ties', async (t) => {
  const all = policy('TrafficRoute', 'route-all', { 'kuma.io/service': '*' }, { 'kuma.io/service': '*' });
  const toBackend = policy('TrafficRoute', 'to-backend', { 'kuma.io/service': '*' }, { 'kuma.io/service': 'backend' });
  const webToBackend = policy('TrafficRoute', 'web-to-backend', { 'kuma.io/service': 'web' }, { 'kuma.io/service': 'backend' });
  const webV2 = policy('TrafficRoute', 'web-v2', { 'kuma.io/service': 'web', version: 'v2' }, { 'kuma.io/service': 'backend' });
  const routes = [webV2, all, webToBackend, toBackend];
  t.equal(selectTrafficRoute(routes, [{ 'kuma.io/service': 'web', version: 'v1' }], 'backend')?.meta.name, 'web-to-backend');
  t.equal(selectTrafficRoute(routes, [{ 'kuma.io/service': 'web', version: 'v2' }], 'backend')?.meta.name, 'web-v2');
  t.equal(selectTrafficRoute(routes, [{ 'kuma.io/service': 'db' }], 'backend')?.meta.name, 'to-backend');
  t.equal(selectTrafficRoute(routes, [{ 'kuma.io/service': 'db' }], 'cache')?.meta.name, 'route-all');
  t.equal(selectTrafficRoute([toBackend], [{ 'kuma.io/service': 'db' }], 'cache'), undefined);
  const twin = policy('TrafficRoute', 'a-twin', { 'kuma.io/service': '*' }, { 'kuma.io/service': 'backend' });
  t.equal(selectTrafficRoute([toBackend, twin], [{ 'kuma.io/service': 'x' }], 'backend')?.meta.name, 'a-twin');
});

t.test('TrafficPermission: the most specific destination match governs an inbound', async (t) => {
  const all = policy('TrafficPermission', 'allow-all', { 'kuma.io/service': '*' }, { 'kuma.io/service': '*' });
  const onlyWeb = policy('TrafficPermission', 'web-to-backend', { 'kuma.io/service': 'web' }, { 'kuma.io/service': 'backend' });
  t.equal(selectTrafficPermission([all, onlyWeb], { 'kuma.io/service': 'backend' })?.meta.name, 'web-to-backend');
  t.equal(selectTrafficPermission([all, onlyWeb], { 'kuma.io/service': 'db' })?.meta.name, 'allow-all');
  t.equal(selectTrafficPermission([onlyWeb], { 'kuma.io/service': 'db' }), undefined);
});

t.test('node ids', async (t) => {
  const node = (id: string, extra: Record<string, unknown> = {}) => ({ id, cluster: '', userAgentName: 'envoy', userAgentVersion: '', clientFeatures: [] as string[], metadata: {}, ...extra });
  t.same(parseProxyId(node('default.web-1.ns')), { kind: 'dataplane', mesh: 'default', name: 'web-1.ns', dnsEnabled: false, clusterIdleTimeout: true });
  t.same(parseProxyId(node('.ingress-1')), { kind: 'ingress', mesh: '', name: 'ingress-1', dnsEnabled: false, clusterIdleTimeout: true });
  t.equal(parseProxyId(node('x.ing', { metadata: { 'dataplane.proxyType': 'ingress' } })).kind, 'ingress');
  t.equal(parseProxyId(node('default.client', { userAgentName: 'gRPC Node Pure JS' })).kind, 'proxyless');
  t.equal(parseProxyId(node('default.web', { metadata: { 'dataplane.dns.port': '15053' } })).dnsEnabled, true);
  // client_features: the embedded engine gets a later field only when it lists it; Envoy always.
  t.equal(parseProxyId(node('default.web', { userAgentName: 'kuma-dp-embedded' })).clusterIdleTimeout, false, 'an embedded engine listing nothing predates the idle timeout');
  t.equal(parseProxyId(node('default.web', { userAgentName: 'kuma-dp-embedded', clientFeatures: [FEATURE_CLUSTER_IDLE_TIMEOUT] })).clusterIdleTimeout, true);
  t.equal(parseProxyId(node('default.web', { userAgentName: 'envoy', clientFeatures: ['envoy.lb.does_not_support_overprovisioning'] })).clusterIdleTimeout, true, 'Envoy gets everything');
  t.throws(() => parseProxyId(node('nodot')), { code: 'ERR_VALIDATION', message: /node\.id/ });
  t.throws(() => parseProxyId(node('default.')), { code: 'ERR_VALIDATION' });
  t.throws(() => parseProxyId(node('.client', { userAgentName: 'gRPC Go' })), { code: 'ERR_VALIDATION', message: /needs a mesh/ });
});

t.test('default policies: created with a new mesh, once; user changes are kept', async (t) => {
  const store = new MemoryStore();
  await store.create({ type: 'Mesh', name: 'existing', spec: {} });
  await store.create({ type: 'TrafficRoute', mesh: 'existing', name: 'mine', spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }], conf: { destination: { 'kuma.io/service': '*' } } } });
  const c = new DefaultPoliciesComponent(store, silentLogger());
  await c.start();
  t.same((await store.list('TrafficRoute', { mesh: 'existing' })).map((r) => r.meta.name), ['mine'], 'a mesh with routes gets no default route at start-up');
  t.same((await store.list('TrafficPermission', { mesh: 'existing' })).map((r) => r.meta.name), ['allow-all-existing']);
  await store.create({ type: 'Mesh', name: 'fresh', spec: {} });
  await c.close();
  t.same((await store.list('TrafficRoute', { mesh: 'fresh' })).map((r) => r.meta.name), ['route-all-fresh']);
  t.same((await store.list('TrafficPermission', { mesh: 'fresh' })).map((r) => r.meta.name), ['allow-all-fresh']);
  const again = new DefaultPoliciesComponent(store, silentLogger());
  await again.start();
  await again.ensure('fresh', true);
  await again.close();
  t.equal((await store.list('TrafficRoute', { mesh: 'fresh' })).length, 1, 'idempotent');
});
