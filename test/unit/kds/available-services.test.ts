import t from 'tap';
import type { Resource } from '../../../api/resource';
import { computeAvailableServices, inboundIsHealthy } from '../../../cp/ingress/available-services';

function dp(mesh: string, name: string, inbound: Record<string, any>[]): Resource {
  return {
    meta: { type: 'Dataplane', mesh, name, version: '1', creationTime: '', modificationTime: '' },
    spec: { networking: { address: '10.0.0.1', inbound } },
  };
}
const tags = (service: string, extra: Record<string, string> = {}) => ({ 'kuma.io/service': service, 'kuma.io/zone': 'zone-1', ...extra });

t.test('counts instances per mesh and full tag set, sorted', async (t) => {
  const out = computeAvailableServices([
    dp('default', 'web-2', [{ port: 1, tags: tags('web', { version: 'v2' }) }]),
    dp('default', 'web-1', [{ port: 1, tags: tags('web', { version: 'v1' }) }]),
    dp('default', 'web-3', [{ port: 1, tags: { version: 'v1', 'kuma.io/zone': 'zone-1', 'kuma.io/service': 'web' } }]),
    dp('other', 'web-1', [{ port: 1, tags: tags('web', { version: 'v1' }) }]),
    dp('default', 'multi', [
      { port: 1, tags: tags('api') },
      { port: 2, tags: tags('admin') },
    ]),
  ]);
  t.same(out, [
    { tags: { 'kuma.io/service': 'admin', 'kuma.io/zone': 'zone-1' }, instances: 1, mesh: 'default' },
    { tags: { 'kuma.io/service': 'api', 'kuma.io/zone': 'zone-1' }, instances: 1, mesh: 'default' },
    { tags: { 'kuma.io/service': 'web', 'kuma.io/zone': 'zone-1', version: 'v1' }, instances: 2, mesh: 'default' },
    { tags: { 'kuma.io/service': 'web', 'kuma.io/zone': 'zone-1', version: 'v2' }, instances: 1, mesh: 'default' },
    { tags: { 'kuma.io/service': 'web', 'kuma.io/zone': 'zone-1', version: 'v1' }, instances: 1, mesh: 'other' },
  ]);
  t.same(Object.keys(out[2].tags), ['kuma.io/service', 'kuma.io/zone', 'version'], 'tag keys sorted (deterministic output)');
});

t.test('unhealthy inbounds and malformed dataplanes do not count', async (t) => {
  t.equal(inboundIsHealthy({}), true, 'no health info counts as ready');
  t.equal(inboundIsHealthy({ health: { ready: true } }), true);
  t.equal(inboundIsHealthy({ health: { ready: false } }), false);
  t.equal(inboundIsHealthy({ health: {} }), false, 'health present without ready:true is not ready (proto3 default)');
  t.equal(inboundIsHealthy({ state: 'NotReady' }), false);
  t.equal(inboundIsHealthy({ state: 'Ignored' }), false);
  const out = computeAvailableServices([
    dp('default', 'a', [{ port: 1, tags: tags('web'), health: { ready: false } }]),
    dp('default', 'b', [{ port: 1, tags: { version: 'v1' } }]),
    dp('default', 'c', [null as any, 'x' as any]),
    { meta: { type: 'Dataplane', mesh: 'default', name: 'gw', version: '1', creationTime: '', modificationTime: '' }, spec: { networking: { gateway: { tags: tags('gw') } } } },
    dp('default', 'd', [{ port: 1, tags: tags('web') }]),
  ]);
  t.same(out, [{ tags: tags('web'), instances: 1, mesh: 'default' }]);
  t.same(computeAvailableServices([]), []);
});
