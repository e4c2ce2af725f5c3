/**
 * The deploy recipes stay in step with the code: the systemd unit passes systemd's own
 * checker, every variable in the example env file is one kuma-dp reads, and the
 * Containerfile's entrypoint is the compiled kuma-dp.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Env } from '../../../agent/cli/env';

const root = path.resolve(__dirname, '../../../..');
const deploy = path.join(root, 'deploy');

const haveSystemd = !spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).error;
t.test('systemd-analyze verify accepts the unit', { skip: haveSystemd ? false : 'systemd-analyze is not installed' }, async (t) => {
  const r = spawnSync('systemd-analyze', ['verify', path.join(deploy, 'kuma-dp.service')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0);
  t.equal(r.stderr.trim(), '', 'no warnings');
});

t.test('the example env file only sets variables kuma-dp reads', async (t) => {
  const known = new Set<string>([...Object.values(Env), 'KUMA_DP_ARGS']);
  const vars = fs
    .readFileSync(path.join(deploy, 'kuma-dp.env.example'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => l.slice(0, l.indexOf('=')));
  t.ok(vars.length >= 5);
  for (const v of vars) t.ok(known.has(v), `${v} is read by kuma-dp`);
  t.match(fs.readFileSync(path.join(deploy, 'kuma-dp.service'), 'utf8'), new RegExp(`Environment=${Env.configDir}=`));
});

t.test("the Containerfile's entrypoint is the compiled kuma-dp", async (t) => {
  const text = fs.readFileSync(path.join(deploy, 'Containerfile'), 'utf8');
  const m = /ENTRYPOINT \[.*"node", "\/opt\/kuma-ts\/(dist\/[^"]+)"\]/.exec(text);
  t.ok(m, 'ENTRYPOINT runs node on a dist/ file');
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  t.equal(m?.[1], pkg.bin['kuma-dp'], 'the same file as package.json bin kuma-dp');
  t.ok(fs.existsSync(path.join(root, m![1])), 'and it exists after the build');
  t.match(text, /npm ci --omit=dev/);
});
