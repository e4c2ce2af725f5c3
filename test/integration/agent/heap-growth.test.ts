/**
 * agent/heap-growth.ts: holding V8's young-generation growth during start-up really keeps
 * the new space small under a burst of surviving allocations (in a real Node process, so
 * a V8 that ignored the runtime flag would fail here), and releasing it lets the space
 * grow again; a growth factor the user chose is never touched.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { DEFAULT_SEMI_SPACE_GROWTH_FACTOR, holdYoungGenerationGrowth, userSetGrowthFactor } from '../../../agent/heap-growth';

const modulePath = path.resolve(__dirname, '../../../agent/heap-growth.js');

/** Runs a burst that survives scavenges (like start-up) in a child; returns new-space MiB before/after. */
function burst(hold: boolean, release: boolean): { before: number; afterBurst: number; afterRelease: number } {
  const script = `
    const v8 = require('v8');
    const { holdYoungGenerationGrowth } = require(${JSON.stringify(modulePath)});
    const ns = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576;
    const before = ns();
    const release = ${hold} ? holdYoungGenerationGrowth() : () => {};
    const keep = [];
    const survive = () => { for (let i = 0; i < 400000; i++) keep.push({ i, s: 'x' + i }); };
    survive();
    const afterBurst = ns();
    ${release ? 'release(); keep.length = 0; survive();' : ''}
    process.stdout.write(JSON.stringify({ before, afterBurst, afterRelease: ns() }));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

t.test('without the hold, a surviving burst grows the new space (the problem)', async (t) => {
  const r = burst(false, false);
  t.ok(r.afterBurst >= 4 * r.before, `new space ${r.before} -> ${r.afterBurst} MiB`);
});

t.test('with the hold, the same burst leaves it at its start size; after release it grows again', async (t) => {
  const r = burst(true, true);
  t.ok(r.afterBurst <= r.before * 2, `held: ${r.before} -> ${r.afterBurst} MiB`);
  t.ok(r.afterRelease > r.afterBurst, `released: ${r.afterBurst} -> ${r.afterRelease} MiB`);
});

t.test('flags set, once each, and a user choice is respected', async (t) => {
  const set: string[] = [];
  const release = holdYoungGenerationGrowth({ execArgv: [], nodeOptions: '--max-old-space-size=100', setFlags: (f) => set.push(f) });
  t.same(set, ['--semi-space-growth-factor=1']);
  release();
  release();
  t.same(set, ['--semi-space-growth-factor=1', `--semi-space-growth-factor=${DEFAULT_SEMI_SPACE_GROWTH_FACTOR}`], 'restored once');

  const none: string[] = [];
  holdYoungGenerationGrowth({ execArgv: ['--semi-space-growth-factor=4'], nodeOptions: '', setFlags: (f) => none.push(f) })();
  holdYoungGenerationGrowth({ execArgv: [], nodeOptions: '--inspect --semi_space_growth_factor=3', setFlags: (f) => none.push(f) })();
  t.same(none, [], 'left alone when the user set it');
  t.ok(userSetGrowthFactor([], '--semi-space-growth-factor 4'));
  t.notOk(userSetGrowthFactor(['--max-semi-space-size=2'], undefined));
});
