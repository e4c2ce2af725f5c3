/** kumactl's pure parts: argument parsing, --var substitution, its config file transforms, tables. */
import t from 'tap';
import { parseArgs, type FlagSpec } from '../../../kumactl/args';
import { parseVars, substituteVars } from '../../../kumactl/commands/apply';
import { addControlPlane, checkApiUrl, currentApiUrl, defaultKumactlConfig, parseKumactlConfig, switchControlPlane } from '../../../kumactl/config-file';
import { age, renderTable } from '../../../kumactl/output/table';
import { dataplaneTags } from '../../../kumactl/output/resource-table';

const specs: FlagSpec[] = [
  { name: 'mesh', short: 'm', kind: 'string', help: 'mesh' },
  { name: 'overwrite', kind: 'bool', help: 'x' },
  { name: 'var', kind: 'list', help: 'x' },
];

t.test('parseArgs', async (t) => {
  const p = parseArgs(['get', '-m', 'm1', 'dataplanes', '--overwrite', '--var=a=1', '--var', 'b=2', '--', '-x'], specs);
  t.same(p.positionals, ['get', 'dataplanes', '-x']);
  t.same(p.strings, { mesh: 'm1' });
  t.same(p.bools, { overwrite: true });
  t.same(p.lists, { var: ['a=1', 'b=2'] });
  t.same(parseArgs(['-mfoo', '-'], specs), { positionals: ['-'], strings: { mesh: 'foo' }, bools: {}, lists: {} });
  t.throws(() => parseArgs(['--nope'], specs), { code: 'ERR_USAGE', message: /unknown flag --nope; valid flags: --mesh/ });
  t.throws(() => parseArgs(['-x'], specs), { code: 'ERR_USAGE' });
  t.throws(() => parseArgs(['--mesh'], specs), { code: 'ERR_USAGE', message: /--mesh needs a value/ });
  t.throws(() => parseArgs(['--overwrite=maybe'], specs), { code: 'ERR_USAGE' });
});

t.test('--var substitution', async (t) => {
  const vars = parseVars(['name=dp-1', 'port=8080', 'empty=']);
  t.equal(substituteVars('name: {{ name }}\nport: {{port}}\nx: "{{ empty }}"', vars), 'name: dp-1\nport: 8080\nx: ""');
  t.throws(() => substituteVars('a: {{ missing }}', vars), { code: 'ERR_USAGE', message: /\{\{ missing \}\}/ });
  t.throws(() => parseVars(['novalue']), { code: 'ERR_USAGE' });
});

t.test('kumactl config transforms', async (t) => {
  let cfg = defaultKumactlConfig();
  t.equal(currentApiUrl(cfg), 'http://localhost:5681');
  cfg = addControlPlane(cfg, 'remote', 'http://127.0.0.1:1234', false);
  t.equal(currentApiUrl(cfg), 'http://127.0.0.1:1234');
  t.throws(() => addControlPlane(cfg, 'remote', 'http://127.0.0.1:1', false), { code: 'ERR_USAGE', message: /--overwrite/ });
  cfg = addControlPlane(cfg, 'remote', 'http://127.0.0.1:1', true);
  t.equal(cfg.controlPlanes.filter((c) => c.name === 'remote').length, 1, 'overwrite replaces, not duplicates');
  cfg = switchControlPlane(cfg, 'local');
  t.equal(currentApiUrl(cfg), 'http://localhost:5681');
  t.throws(() => switchControlPlane(cfg, 'nope'), { code: 'ERR_USAGE', message: /known: local, remote/ });
  t.throws(() => checkApiUrl('grpc://x:1'), { code: 'ERR_USAGE' });
  t.equal(checkApiUrl('http://a:1/'), 'http://a:1');
  t.throws(() => parseKumactlConfig('controlPlanes: 5', 'f'), { code: 'ERR_USAGE', message: /f: controlPlanes must be a list/ });
  t.same(parseKumactlConfig('', 'f'), defaultKumactlConfig());
});

t.test('tables and ages', async (t) => {
  t.equal(renderTable(['A', 'BB'], [['xxx', 'y'], ['z', '']]), 'A     BB\nxxx   y\nz\n');
  const now = Date.parse('2026-01-02T00:00:00Z');
  t.equal(age('2026-01-01T23:59:30Z', now), '30s');
  t.equal(age('2026-01-01T23:00:00Z', now), '60m');
  t.equal(age('2025-12-30T00:00:00Z', now), '3d');
  t.equal(age(undefined, now), 'never');
  t.equal(dataplaneTags({ inbound: [{ tags: { b: '2', a: '1' } }, { tags: { a: '1', c: '3' } }] }), 'a=1 b=2 c=3');
});
