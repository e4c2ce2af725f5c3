import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ValidationError, formatViolation } from '../../../lib/errors';
import { parseResourceDocuments, validateDocuments } from '../../../api/yaml';

const FIXTURES = path.resolve(__dirname, '../../../../test/unit/api/fixtures');
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

/** The violations parseResourceDocuments throws, as `field: message` lines. */
function parseProblems(text: string): string[] {
  try {
    parseResourceDocuments(text);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return err.violations.map(formatViolation);
  }
  return [];
}

t.test('multi-document YAML becomes resource inputs; empty documents are skipped', async (t) => {
  const text = ['---', fixture('valid-mesh.yaml'), '---', '---', fixture('valid-dataplane.yaml'), '---', '# only a comment', '---', fixture('valid-traffic-route.yaml')].join('\n');
  const inputs = parseResourceDocuments(text);
  t.same(inputs.map((i) => `${i.type}/${i.mesh ?? ''}/${i.name}`), ['Mesh//default', 'Dataplane/default/backend-1', 'TrafficRoute/default/backend-canary']);
  t.equal(inputs[1].spec.networking.inbound[0].tags['kuma.io/service'], 'backend');
  t.notOk('type' in inputs[1].spec, 'meta fields are not in the spec');
  t.same(validateDocuments(inputs), []);
  t.same(parseResourceDocuments(''), []);
  t.same(parseResourceDocuments('---\n---\n'), []);
});

t.test('malformed YAML reports line and column', async (t) => {
  t.same(parseProblems('type: Mesh\nname: a\nmtls: {enabledBackend: x\n'), [
    'document[0]: YAML syntax error at line 4:1: Flow map in block collection must be sufficiently indented and end with a }',
  ]);
  t.same(parseProblems('type: Mesh\nname: a\nname: b\n'), ['document[0]: YAML syntax error at line 3:1: Map keys must be unique']);
  t.same(parseProblems('type: Mesh\n  name: a\n'), [
    'document[0]: YAML syntax error at line 1:7: Nested mappings are not allowed in compact mappings',
    'document[0]: YAML syntax error at line 1:7: Implicit keys need to be on a single line',
  ]);
  t.match(parseProblems('\t- a'), [/^document\[0\]: YAML syntax error at line 1:1/]);
});

t.test('documents that are not mappings or have no known type', async (t) => {
  t.same(parseProblems('- a\n- b\n'), ["document[0]: must be a mapping with type, name and the resource's fields, got a list"]);
  t.same(parseProblems('just a string\n'), ['document[0]: must be a mapping with type, name and the resource\'s fields, got "just a string"']);
  t.same(parseProblems('type: Meshh\nname: a\n'), [
    'document[0].type: unknown type "Meshh"; valid types: Mesh, Dataplane, ZoneIngress, Zone, TrafficRoute, TrafficPermission, Secret, GlobalSecret, Config',
  ]);
  t.match(parseProblems('name: a\n'), ['document[0].type: is required; valid types: Mesh, Dataplane, ']);
  t.match(parseProblems('type: 7\nname: a\n'), ['document[0].type: unknown type 7; valid types: ']);
});

t.test('errors in documents 1 and 3 are reported together with their index', async (t) => {
  const text = [
    fixture('valid-mesh.yaml'),
    '---\ntype: Dataplane\nname: x\nnetworking: {address: 1.1.1.1\n', // doc 1: syntax error
    '---\n' + fixture('valid-traffic-permission.yaml'),
    '---\ntype: Nope\nname: y\n', // doc 3: unknown type
  ].join('\n');
  const problems = parseProblems(text);
  t.equal(problems.length, 2);
  t.match(problems[0], /^document\[1\]: YAML syntax error at line \d+:\d+: /);
  t.match(problems[1], /^document\[3\]\.type: unknown type "Nope"/);
  try {
    parseResourceDocuments(text);
    t.fail('should throw');
  } catch (err) {
    t.equal((err as ValidationError).code, 'ERR_VALIDATION');
  }
});

t.test('validateDocuments prefixes each document index', async (t) => {
  const text = [
    fixture('valid-mesh.yaml'),
    '---\n' + fixture('valid-dataplane.yaml').replace('port: 11011', 'port: 70000'),
    '---\n' + fixture('valid-traffic-permission.yaml'),
    '---\n' + fixture('valid-traffic-route.yaml').replace('conf:', 'confx:'),
  ].join('\n');
  const inputs = parseResourceDocuments(text);
  t.same(validateDocuments(inputs, { meshExists: (m) => m === 'default' }).map(formatViolation), [
    'document[1].networking.inbound[0].port: must be in 1..65535, got 70000',
    'document[3].confx: unknown field; known fields: type, mesh, name, labels, sources, destinations, conf',
    'document[3].conf: is required; must have either split or destination',
  ]);
});

t.test('hostile YAML is refused, not expanded', async (t) => {
  // An alias bomb: each level doubles the size; without a limit it would be 2^20 items.
  let bomb = 'a0: &a0 [x, x]\n';
  for (let i = 1; i <= 20; i++) bomb += `a${i}: &a${i} [*a${i - 1}, *a${i - 1}]\n`;
  const problems = parseProblems(`type: Zone\nname: z\n${bomb}`);
  t.equal(problems.length, 1);
  t.match(problems[0], /^document\[0\]: cannot read YAML: .*alias/i);

  // Nesting deep enough to exhaust the parser's stack is a reported error, not a crash.
  const deep = `type: Mesh\nname: m\nlogging: ${'['.repeat(20000)}${']'.repeat(20000)}\n`;
  t.match(parseProblems(deep), [/^document\[0\]: YAML syntax error at line 3:\d+: Maximum call stack size exceeded/]);
});
