/**
 * proto/index.ts dropGeneratedWriters (issue 4, idle RSS): after it, a decoded type keeps
 * its generated decode and toObject and loses its own encode, verify and fromObject; decoding
 * gives the same result; encoding still works (generated again) and gives the same bytes.
 */
import t from 'tap';
import { decode, dropGeneratedWriters, encode, lookupType, TypeUrl } from '../../../proto/index';

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

t.test('decode keeps working, encode comes back with the same bytes', async (t) => {
  const cluster = {
    name: 'backend',
    type: 'EDS',
    connect_timeout: { seconds: 5 },
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    load_assignment: { cluster_name: 'backend', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } } }] }] },
  };
  const bytes = Buffer.from(encode(TypeUrl.Cluster, cluster));
  const first = decode(TypeUrl.Cluster, bytes);
  const type = lookupType(TypeUrl.Cluster);
  t.ok(own(type, 'encode') && own(type, 'decode'), 'set up: the generated functions are its own');

  const n = dropGeneratedWriters();
  t.ok(n >= 5, `trimmed ${n} types (Cluster and the messages inside it)`);
  t.notOk(own(type, 'encode') || own(type, 'verify') || own(type, 'fromObject'), 'writers gone');
  t.ok(own(type, 'decode') && own(type, 'toObject'), 'readers kept');
  t.same(decode(TypeUrl.Cluster, bytes), first, 'decodes as before');
  t.notOk(own(type, 'encode'), 'decoding does not bring the writers back');

  t.ok(Buffer.from(encode(TypeUrl.Cluster, cluster)).equals(bytes), 'encodes to the same bytes');
  t.ok(own(type, 'encode'), 'generated again on use');
  t.equal(dropGeneratedWriters(), n, 'a second call trims what was set up again');
});
