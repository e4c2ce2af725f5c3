import t from 'tap';
import { MetricsRegistry } from '../../../agent/admin/metrics';
import { parseBootstrapResponse, buildBootstrapRequest, adminPortOf } from '../../../agent/bootstrap/request';

t.test('Prometheus text is sorted and escaped', async (t) => {
  const m = new MetricsRegistry().declare('b_total', 'counter', 'B.').declare('a', 'gauge', 'A.');
  m.inc('b_total', { rcode: 'NXDOMAIN' });
  m.inc('b_total', { rcode: 'NOERROR' }, 2);
  m.set('a', 1.5, { x: 'q"\\\n' });
  t.equal(m.render(), '# HELP a A.\n# TYPE a gauge\na{x="q\\"\\\\\\n"} 1.5\n# HELP b_total B.\n# TYPE b_total counter\nb_total{rcode="NOERROR"} 2\nb_total{rcode="NXDOMAIN"} 1\n');
  t.throws(() => m.inc('undeclared'), /not declared/);
});

t.test('bootstrap request and response', async (t) => {
  const req = buildBootstrapRequest({ name: 'dp', mesh: 'default', proxyType: 'dataplane', token: 'tok', resourceText: '{}', adminPort: 9901, kumaDpVersion: '0.1.0', envoyVersion: { version: '1.30.1', build: 'x/1.30.1' } });
  t.same(req, {
    mesh: 'default', name: 'dp', proxyType: 'dataplane', caCert: '', dynamicMetadata: {},
    version: { kumaDp: { version: '0.1.0', gitTag: '', gitCommit: '', buildDate: '' }, envoy: { version: '1.30.1', build: 'x/1.30.1', kumaDpCompatible: true } },
    dataplaneToken: 'tok', dataplaneResource: '{}', adminPort: 9901,
  });
  const boot = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } } };
  t.same(parseBootstrapResponse(JSON.stringify({ bootstrap: boot, kumaSidecarConfiguration: { a: 1 } })), { bootstrap: boot, kumaSidecarConfiguration: { a: 1 } });
  t.same(parseBootstrapResponse(JSON.stringify({ bootstrap: 'admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: 9901}\n' })).bootstrap, boot, 'YAML text');
  t.same(parseBootstrapResponse(JSON.stringify({ bootstrap: Buffer.from(JSON.stringify(boot)).toString('base64') })).bootstrap, boot, "base64, as Go's []byte");
  t.equal(adminPortOf(boot), 9901);
  t.throws(() => parseBootstrapResponse('nope'), /not JSON/);
  t.throws(() => parseBootstrapResponse('{"bootstrap": 3}'), /expected an Envoy bootstrap object/);
});
