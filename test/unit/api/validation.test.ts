import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { formatViolation } from '../../../lib/errors';
import { fromKumaJson } from '../../../api/resource';
import { validateResource, type ValidationContext } from '../../../api/validation/index';

// Fixtures stay in the source tree; tests run from dist/test/unit/api.
const FIXTURES = path.resolve(__dirname, '../../../../test/unit/api/fixtures');
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

/** Every violation of one YAML document, as `field: message` lines. */
function problems(yamlText: string, ctx: ValidationContext = {}): string[] {
  return validateResource(fromKumaJson(YAML.parse(yamlText)), ctx).map(formatViolation);
}
function fieldsOf(yamlText: string, ctx: ValidationContext = {}): string[] {
  return validateResource(fromKumaJson(YAML.parse(yamlText)), ctx).map((v) => v.field);
}
/** A valid fixture with `edit` applied to its parsed object. */
function edited(name: string, edit: (o: any) => void): string {
  const o = YAML.parse(fixture(name));
  edit(o);
  return YAML.stringify(o);
}

t.test('realistic Kuma resources pass', async (t) => {
  for (const f of fs.readdirSync(FIXTURES).filter((n) => n.startsWith('valid-'))) {
    t.same(problems(fixture(f), { meshExists: (m) => m === 'default' }), [], f);
  }
  t.same(problems('type: Zone\nname: zone-1\nenabled: true\n'), []);
  t.same(problems('type: Zone\nname: zone-2\n'), []);
  t.same(problems('type: Secret\nmesh: default\nname: default.ca-builtin-cert-ca-1\ndata: aGVsbG8=\n'), []);
  t.same(problems('type: GlobalSecret\nname: zone-token-signing-key\ndata: aGVsbG8\n'), [], 'unpadded base64');
  t.same(problems('type: Config\nname: kuma-cp-vips\nconfig: "{}"\n'), []);
  t.same(problems('type: Mesh\nname: empty\n'), [], 'a mesh without mtls');
  // The defaults Kuma creates for every mesh.
  t.same(
    problems(`type: TrafficRoute
mesh: default
name: route-all-default
sources: [{match: {kuma.io/service: '*'}}]
destinations: [{match: {kuma.io/service: '*'}}]
conf:
  loadBalancer: {roundRobin: {}}
  destination: {kuma.io/service: '*'}
`),
    [],
    'route-all-default',
  );
  t.same(
    problems(`type: TrafficPermission
mesh: default
name: allow-all-default
sources: [{match: {kuma.io/service: '*'}}]
destinations: [{match: {kuma.io/service: '*'}}]
`),
    [],
    'allow-all-default',
  );
  t.same(
    problems('type: Dataplane\nmesh: default\nname: gw\nnetworking:\n  address: gw.local\n  gateway:\n    type: BUILTIN\n    tags:\n      kuma.io/service: edge\n'),
    [],
    'gateway dataplane with a hostname address',
  );
});

t.test('identity: type, name, mesh, labels', async (t) => {
  t.same(problems('type: Foo\nname: x\n'), [
    'type: unknown type "Foo"; valid types: Mesh, Dataplane, ZoneIngress, Zone, TrafficRoute, TrafficPermission, Secret, GlobalSecret, Config',
  ]);
  t.match(problems('name: x\n'), [/^type: is required; valid types: Mesh, /]);
  t.same(fieldsOf('type: Mesh\nname: Bad_Name\n'), ['name']);
  t.match(problems('type: Mesh\nname: Bad_Name\n')[0], /"Bad_Name" is not a valid name; use lowercase letters/);
  t.same(fieldsOf('type: Mesh\nname: -x\n'), ['name'], 'must start with alnum');
  t.same(fieldsOf('type: Mesh\nname: x-\n'), ['name'], 'must end with alnum');
  t.same(fieldsOf(`type: Mesh\nname: ${'a'.repeat(254)}\n`), ['name'], 'too long');
  t.same(fieldsOf(`type: Mesh\nname: ${'a'.repeat(253)}\n`), [], '253 is fine');
  t.same(fieldsOf('type: Mesh\nname: a.b-c.1\n'), []);
  t.same(fieldsOf('type: Mesh\n'), ['name']);
  t.same(fieldsOf('type: Mesh\nname: 42\n'), ['name']);
  t.same(problems('type: Mesh\nmesh: default\nname: x\n'), [
    'mesh: must not be set: Mesh is not scoped to a mesh, got "default"',
  ]);
  t.match(problems(fixture('valid-traffic-permission.yaml').replace('mesh: default\n', '')), [/^mesh: is required/]);
  t.same(problems(fixture('valid-traffic-permission.yaml'), { meshExists: () => false }), ['mesh: mesh "default" does not exist']);
  t.same(problems('type: Zone\nname: z\nlabels:\n  a: 1\n'), ['labels["a"]: must be a string, got 1']);
});

t.test('structure: unknown fields and wrong types, against the protobuf descriptors', async (t) => {
  const doc = edited('valid-dataplane.yaml', (o) => {
    o.networking.inbound[0].prot = 1;
    o.networking.inbound[0].port = 'abc';
    o.networking.gatewayy = {};
  });
  t.same(problems(doc), [
    'networking.inbound[0].port: must be an integer, got "abc"',
    'networking.inbound[0].prot: unknown field; known fields: port, servicePort, serviceAddress, address, tags, health, state',
    'networking.gatewayy: unknown field; known fields: address, advertisedAddress, gateway, inbound, outbound, transparentProxying, admin',
  ]);
  t.same(problems('type: Mesh\nname: m\nfoo: 1\n'), [
    'foo: unknown field; known fields: type, mesh, name, labels, mtls, routing, networking, tracing, logging, metrics',
  ]);
  t.match(problems('type: Mesh\nname: m\nmtls:\n  enabled_backend: x\n'), [/^mtls\.enabled_backend: unknown field \(did you mean "enabledBackend"\?\)/]);
  t.same(problems(edited('valid-dataplane.yaml', (o) => (o.networking.inbound = { port: 1 }))), [
    'networking.inbound: must be a list, got an object',
    'networking: must have at least one inbound or a gateway',
  ]);
  t.same(problems(edited('valid-dataplane.yaml', (o) => (o.networking.inbound[0].tags = ['a']))), [
    'networking.inbound[0].tags: must be a map (object), got a list',
  ]);
  t.same(problems(edited('valid-dataplane.yaml', (o) => (o.networking.inbound[0].tags.version = 2))), [
    'networking.inbound[0].tags["version"]: must be a string, got 2',
  ]);
  t.same(problems(edited('valid-dataplane.yaml', (o) => (o.networking.inbound[0].port = 1.5))), [
    'networking.inbound[0].port: must be an integer, got 1.5',
  ]);
  t.same(problems(edited('valid-dataplane.yaml', (o) => (o.networking.inbound[0].port = -1))), [
    'networking.inbound[0].port: must be in 0..4294967295, got -1',
    'networking.inbound[0].port: must be in 1..65535, got -1',
  ]);
  t.same(problems(edited('valid-dataplane.yaml', (o) => (o.networking = 'x'))), ['networking: must be an object, got "x"']);
  // Enums by name.
  t.same(
    problems('type: Dataplane\nmesh: default\nname: gw\nnetworking:\n  address: 1.2.3.4\n  gateway:\n    type: SIDECAR\n    tags:\n      kuma.io/service: edge\n'),
    ['networking.gateway.type: must be one of DELEGATED, BUILTIN, got "SIDECAR"'],
  );
  // Struct fields are free-form objects, but must be objects.
  t.same(problems('type: Mesh\nname: m\nlogging:\n  backends: [{name: file}]\n'), []);
  t.same(problems('type: Mesh\nname: m\nlogging: yes-please\n'), ['logging: must be an object, got "yes-please"']);
  t.same(problems('type: Zone\nname: z\nenabled: "true"\n'), ['enabled: must be a boolean (true or false), got "true"']);
  t.same(problems('type: Config\nname: c\nconfig: 1\nextra: x\n'), [
    'config: must be a string, got 1',
    'extra: unknown field; known fields: type, mesh, name, labels, config',
  ]);
  // Prototype keys are unknown fields, not a crash.
  t.same(fieldsOf('type: Zone\nname: z\nconstructor: 1\ntoString: 2\n'), ['constructor', 'toString']);
});

t.test('a document with 3 problems yields 3 violations', async (t) => {
  const doc = edited('valid-dataplane.yaml', (o) => {
    o.networking.inbound[0].port = 70000;
    delete o.networking.inbound[0].tags['kuma.io/service'];
    o.networking.outbound[0].port = 0;
  });
  t.same(problems(doc), [
    'networking.inbound[0].port: must be in 1..65535, got 70000',
    'networking.inbound[0].tags: must contain tag "kuma.io/service"',
    'networking.outbound[0].port: must be in 1..65535, got 0',
  ]);
});

t.test('Mesh rules', async (t) => {
  const doc = edited('valid-mesh.yaml', (o) => {
    o.mtls.enabledBackend = 'ca-2';
    o.mtls.backends.push({ name: 'ca-1', type: 'vault', mode: 'LAX' });
    o.mtls.backends.push({ type: 'builtin', dpCert: { rotation: { expiration: '1 day' } } });
    o.mtls.backends[0].conf.caCert.RSAbits = 1024;
    o.mtls.backends[0].conf.caCert.expiration = '0s';
    o.mtls.backends[0].conf.foo = true;
  });
  t.same(problems(doc), [
    'mtls.backends[0].conf.foo: unknown field; known fields: caCert',
    'mtls.backends[0].conf.caCert.RSAbits: must be one of 2048, 3072, 4096, got 1024',
    'mtls.backends[0].conf.caCert.expiration: must be a positive duration, got "0s"',
    'mtls.backends[1].name: "ca-1" is already used by mtls.backends[0]',
    'mtls.backends[1].type: must be one of builtin, provided, got "vault"',
    'mtls.backends[1].mode: must be one of STRICT, PERMISSIVE, got "LAX"',
    'mtls.backends[2].name: is required',
    'mtls.backends[2].dpCert.rotation.expiration: invalid duration "1 day"; expected a number with a unit (ns, us, ms, s, m, h), e.g. "10m", "1h30m", "500ms", "0s"',
    'mtls.enabledBackend: must name one of the backends (ca-1), got "ca-2"',
  ]);
  t.same(problems('type: Mesh\nname: m\nmtls:\n  enabledBackend: ca-1\n'), [
    'mtls.enabledBackend: must name a backend, but mtls.backends is empty, got "ca-1"',
  ]);
  t.same(problems('type: Mesh\nname: m\nmtls:\n  backends:\n  - name: p\n    type: provided\n    conf:\n      cert: {secret: c}\n'), [
    'mtls.backends[0].conf.key: is required; must have one of secret, file, inline, inlineString',
  ]);
  t.same(problems('type: Mesh\nname: m\nmtls:\n  backends:\n  - name: b\n    mode: STRICT\n'), [
    'mtls.backends[0].type: is required; must be one of builtin, provided',
  ]);
});

t.test('Dataplane rules', async (t) => {
  const dp = (networking: string): string[] => problems(`type: Dataplane\nmesh: default\nname: d\nnetworking:\n${networking}`);
  t.same(dp('  inbound:\n  - port: 80\n    tags: {kuma.io/service: a}\n'), [
    'networking.address: is required; must be an IPv4 or IPv6 address or a hostname',
  ]);
  t.same(dp('  address: "300.1.1.1"\n  inbound:\n  - port: 80\n    tags: {kuma.io/service: a}\n'), [
    'networking.address: must be an IPv4 or IPv6 address or a hostname, got "300.1.1.1"',
  ]);
  t.same(dp('  address: "fd00::1"\n  inbound:\n  - port: 80\n    tags: {kuma.io/service: a}\n'), [], 'IPv6');
  t.same(dp('  address: 1.1.1.1\n'), ['networking: must have at least one inbound or a gateway']);
  t.same(dp('  address: 1.1.1.1\n  inbound:\n  - port: 80\n    tags: {kuma.io/service: a}\n  gateway:\n    tags: {kuma.io/service: g}\n'), [
    'networking: must have either inbound or gateway, not both',
  ]);
  t.same(dp('  address: 1.1.1.1\n  inbound:\n  - port: 80\n    servicePort: 70000\n    tags: {kuma.io/service: ""}\n'), [
    'networking.inbound[0].servicePort: must be in 1..65535, got 70000',
    'networking.inbound[0].tags["kuma.io/service"]: tag value must not be empty',
  ]);
  t.same(dp('  address: 1.1.1.1\n  inbound:\n  - port: 80\n    servicePort: 0\n    tags: {kuma.io/service: a}\n'), [], 'servicePort 0 means unset');
  t.same(dp('  address: 1.1.1.1\n  inbound:\n  - port: 80\n    address: db.local\n    serviceAddress: 10.0.0.1\n    tags: {kuma.io/service: a}\n'), [
    'networking.inbound[0].address: must be an IPv4 or IPv6 address, got "db.local"',
  ]);
  t.same(dp('  address: 1.1.1.1\n  inbound:\n  - port: 80\n    serviceAddress: 1.1.1.1\n    tags: {kuma.io/service: a}\n'), [
    "networking.inbound[0].serviceAddress: serviceAddress:servicePort must differ from the inbound's address:port (1.1.1.1:80), or traffic would loop",
  ]);
  t.same(dp('  address: 1.1.1.1\n  inbound:\n  - port: 80\n    serviceAddress: 1.1.1.1\n    servicePort: 8080\n    tags: {kuma.io/service: a}\n'), []);
  t.same(dp('  address: 1.1.1.1\n  inbound:\n  - port: 80\n    tags: {kuma.io/service: a, kuma.io/protocol: smtp, "bad key": x}\n'), [
    'networking.inbound[0].tags["kuma.io/protocol"]: must be one of grpc, http, http2, kafka, tcp, got "smtp"',
    'networking.inbound[0].tags["bad key"]: tag key "bad key" has invalid characters; allowed: letters, digits, . _ - / :',
  ]);
  t.same(dp('  address: 1.1.1.1\n  inbound:\n  - port: 80\n    tags: {kuma.io/service: a}\n  - port: 80\n    tags: {kuma.io/service: b}\n  - port: 80\n    address: 1.1.1.2\n    tags: {kuma.io/service: c}\n'), [
    'networking.inbound[1].port: port 80 is already used by networking.inbound[0] on the same address',
  ]);
  t.same(dp('  address: 1.1.1.1\n  inbound:\n  - tags: {kuma.io/service: a}\n  outbound:\n  - port: 99999\n    tags: {version: v1}\n'), [
    'networking.inbound[0].port: is required; must be in 1..65535',
    'networking.outbound[0].port: must be in 1..65535, got 99999',
    'networking.outbound[0].tags: must contain tag "kuma.io/service"',
  ]);
  t.same(dp('  address: 1.1.1.1\n  gateway:\n    tags: {version: v1}\n'), ['networking.gateway.tags: must contain tag "kuma.io/service"']);
  t.same(
    dp('  address: 1.1.1.1\n  inbound:\n  - port: 80\n    tags: {kuma.io/service: a}\n  transparentProxying:\n    redirectPortInbound: 0\n    redirectPortOutbound: 70000\n    reachableServices: [b, 3, ""]\n'),
    [
      'networking.transparentProxying.reachableServices[1]: must be a string, got 3',
      'networking.transparentProxying.redirectPortInbound: must be in 1..65535, got 0',
      'networking.transparentProxying.redirectPortOutbound: must be in 1..65535, got 70000',
      'networking.transparentProxying.reachableServices[2]: must not be empty',
    ],
  );
  t.same(problems('type: Dataplane\nmesh: default\nname: d\n'), ['networking: is required; must have an address and inbound or gateway']);
});

t.test('ZoneIngress rules', async (t) => {
  t.same(problems(edited('valid-zone-ingress.yaml', (o) => delete o.networking.advertisedPort)), [
    'networking.advertisedPort: is required when advertisedAddress is set',
  ]);
  t.same(problems(edited('valid-zone-ingress.yaml', (o) => delete o.networking.advertisedAddress)), [
    'networking.advertisedAddress: is required when advertisedPort is set',
  ]);
  t.same(
    problems(edited('valid-zone-ingress.yaml', (o) => {
      o.networking.port = 0;
      delete o.networking.address;
      o.availableServices.push({ tags: { version: 'v1' } });
    })),
    [
      'networking.address: is required; must be an IPv4 or IPv6 address or a hostname',
      'networking.port: must be in 1..65535, got 0',
      'availableServices[1].tags: must contain tag "kuma.io/service"',
      "availableServices[1].mesh: is required; use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters",
    ],
  );
  t.same(problems('type: ZoneIngress\nname: zi\n'), ['networking: is required; must have address and port']);
});

t.test('TrafficRoute rules', async (t) => {
  t.same(problems(edited('valid-traffic-route.yaml', (o) => {
    o.sources = [];
    o.destinations = [{ match: { 'kuma.io/service': 'backend', version: 'v1' } }];
  })), [
    'sources: must have at least one element',
    'destinations[0].match["version"]: only tag "kuma.io/service" may be used in this selector',
  ]);
  t.same(problems(edited('valid-traffic-route.yaml', (o) => (o.sources = [{ match: {} }, { match: { version: 'v1' } }]))), [
    'sources[0].match: must have at least one tag, including "kuma.io/service"',
    'sources[1].match: must contain tag "kuma.io/service"',
  ]);
  t.same(problems(edited('valid-traffic-route.yaml', (o) => delete o.conf)), ['conf: is required; must have either split or destination']);
  t.same(problems(edited('valid-traffic-route.yaml', (o) => (o.conf.destination = { 'kuma.io/service': 'backend' }))), [
    'conf: must have either split or destination, not both',
  ]);
  t.same(problems(edited('valid-traffic-route.yaml', (o) => (o.conf = { loadBalancer: { random: {} } }))), [
    'conf: must have either split or destination',
  ]);
  t.same(problems(edited('valid-traffic-route.yaml', (o) => {
    o.conf.split[0].weight = 0;
    o.conf.split[1].weight = 0;
    delete o.conf.split[1].destination['kuma.io/service'];
  })), [
    'conf.split[1].destination: must contain tag "kuma.io/service"',
    'conf.split: must have at least one entry with weight greater than 0',
  ]);
  t.same(problems(edited('valid-traffic-route.yaml', (o) => (o.conf.split[0].weight = -5))), [
    'conf.split[0].weight: must be in 0..4294967295, got -5',
  ]);
  t.same(problems(edited('valid-traffic-route.yaml', (o) => delete o.conf.split[0].weight)), ['conf.split[0].weight: is required; must be an integer >= 0']);
  t.same(problems(edited('valid-traffic-route.yaml', (o) => {
    o.conf.http.push({ match: { path: { prefix: 'api', exact: '/x' } }, split: [{ weight: 1, destination: { 'kuma.io/service': 'backend' } }] });
    o.conf.http.push({ match: { method: {} }, destination: { 'kuma.io/service': 'backend' } });
    o.conf.http.push({ match: { path: { regex: '(' } } });
    o.conf.http.push({ destination: { 'kuma.io/service': 'backend' } });
  })), [
    'conf.http[1].match.path: only one of prefix, exact, regex may be set, got prefix and exact',
    'conf.http[1].match.path.prefix: must start with "/", got "api"',
    'conf.http[2].match.method: must have exactly one of prefix, exact, regex',
    'conf.http[3].match.path.regex: must be a valid regular expression, got "("',
    'conf.http[3]: must have either split or destination',
    'conf.http[4].match: is required; must have path, method or headers',
  ]);
});

t.test('TrafficPermission and Secret rules', async (t) => {
  t.same(problems(edited('valid-traffic-permission.yaml', (o) => {
    delete o.sources;
    o.destinations = [{ match: { 'kuma.io/service': 'a b' } }];
  })), [
    'sources: must have at least one element',
    'destinations[0].match["kuma.io/service"]: tag value "a b" has invalid characters; allowed: letters, digits, . _ - / :',
  ]);
  t.same(problems('type: Secret\nmesh: default\nname: s\n'), ['data: is required; must be base64-encoded bytes']);
  t.same(problems('type: Secret\nmesh: default\nname: s\ndata: ""\n'), ['data: must not be empty']);
  t.same(problems('type: GlobalSecret\nname: s\ndata: "not base64!"\n'), ['data: must be base64-encoded bytes, got "not base64!"']);
  t.same(problems('type: GlobalSecret\nname: s\ndata: "abcde"\n'), ['data: must be base64-encoded bytes, got "abcde"']);
});

t.test('hostile input never throws', async (t) => {
  const weird: unknown[] = [null, 0, -1, 1e300, 'x', '', true, [], {}, [null], [{}], { a: null }, { constructor: 1 }, ['x', 1]];
  let n = 0;
  // Replace every value of every valid fixture, one at a time, with each weird value.
  for (const f of fs.readdirSync(FIXTURES).filter((name) => name.startsWith('valid-'))) {
    const base = YAML.parse(fixture(f));
    const paths: Array<Array<string | number>> = [];
    const walk = (o: unknown, p: Array<string | number>) => {
      paths.push(p);
      if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) walk(v, [...p, Array.isArray(o) ? Number(k) : k]);
    };
    walk(base, []);
    for (const p of paths) {
      for (const w of weird) {
        const o = structuredClone(base);
        if (p.length === 0) continue;
        let cur: any = o;
        for (const k of p.slice(0, -1)) cur = cur[k];
        cur[p[p.length - 1]] = w;
        const out = validateResource(fromKumaJson(o));
        for (const v of out) if (typeof v.field !== 'string' || typeof v.message !== 'string') t.fail('bad violation shape');
        n++;
      }
    }
  }
  t.ok(n > 500, `ran ${n} mutated documents without throwing`);
  t.same(validateResource(null as never).length, 1);
  t.same(validateResource({ type: 'Mesh', name: 'm', spec: 5 } as never).map(formatViolation), ['spec must be an object, got 5']);
});
