/**
 * proto/index.ts forgetLookupCaches (issue 4, idle RSS): on a freshly resolved root it
 * drops thousands of memoized lookups; lookups and decoding work the same afterwards, and
 * only what is looked up again is memoized again.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import * as protobuf from 'protobufjs/light';
import { forgetLookupCaches } from '../../../proto/index';

const bundle = path.resolve(__dirname, '../../../proto/envoy-agent.json');

t.test('memo emptied, lookups and codecs unchanged', async (t) => {
  const root = protobuf.Root.fromJSON(JSON.parse(fs.readFileSync(bundle, 'utf8')));
  root.resolveAll();
  const Cluster = root.lookupType('envoy.config.cluster.v3.Cluster');
  const msg = { name: 'c', connect_timeout: { seconds: 3 }, transport_socket: { name: 'tls', typed_config: { type_url: 'x', value: Buffer.from([1, 2]) } } };
  const bytes = Cluster.encode(Cluster.fromObject(msg)).finish();

  const dropped = forgetLookupCaches(root);
  t.ok(dropped > 1000, `dropped ${dropped} memoized lookups`);
  t.equal(root.lookupType('envoy.config.cluster.v3.Cluster'), Cluster, 'absolute lookup finds the same type');
  t.equal(root.lookupType('.envoy.config.listener.v3.Listener').name, 'Listener', 'leading-dot lookup');
  const ns = root.lookup('envoy.config.cluster.v3') as protobuf.Namespace;
  t.equal(ns.lookup('Cluster.LbPolicy')?.name, 'LbPolicy', 'relative lookup of a nested enum');
  t.equal(ns.lookup('core.v3.Address')?.name ?? ns.lookup('envoy.config.core.v3.Address')?.name, 'Address', 'lookup that walks outwards');
  t.same(Cluster.toObject(Cluster.decode(bytes), { longs: String }), Cluster.toObject(Cluster.fromObject(msg), { longs: String }), 'decodes as before');
  const again = forgetLookupCaches(root);
  t.ok(again < 50, `only the ${again} lookups made since were memoized again`);
});
