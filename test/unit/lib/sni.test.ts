import t from 'tap';
import { parseSni, sniFor } from '../../../lib/naming/sni';

t.test('sniFor sorts keys and always includes mesh', async (t) => {
  t.equal(sniFor('default', 'billing'), 'billing{mesh=default}');
  t.equal(
    sniFor('m1', 'billing', { 'kuma.io/service': 'billing', version: 'v2', 'kuma.io/zone': 'zone-2' }),
    'billing{kuma.io/zone=zone-2,mesh=m1,version=v2}',
  );
});

t.test('parseSni inverts sniFor and rejects other names', async (t) => {
  t.same(parseSni('billing{kuma.io/zone=zone-2,mesh=m1}'), {
    service: 'billing',
    mesh: 'm1',
    tags: { 'kuma.io/service': 'billing', 'kuma.io/zone': 'zone-2' },
  });
  t.equal(parseSni('example.com'), undefined);
  t.equal(parseSni('billing{version=v1}'), undefined, 'mesh is required');
  t.equal(parseSni('{mesh=a}'), undefined, 'service is required');
});
