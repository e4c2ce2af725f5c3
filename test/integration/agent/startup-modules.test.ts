/**
 * agent/startup-modules.ts, in fresh Node processes: the YAML library it loads is gone from
 * require.cache and collectable by the GC once start-up is released (a WeakRef to the
 * library's exports empties), a later use still works and is let go on the next turn, and a
 * library something else loaded first is shared, not forgotten.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';

const modulePath = path.resolve(__dirname, '../../../agent/startup-modules.js');

function child(script: string): any {
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const prelude = `
  const sm = require(${JSON.stringify(modulePath)});
  const yamlFiles = () => Object.keys(require.cache).filter((f) => f.includes('node_modules/yaml/'));
  const turn = () => new Promise((r) => setTimeout(r, 10));
`;

t.test('released: out of require.cache, out of the module tree, and collected', async (t) => {
  const r = child(`${prelude}
    (async () => {
      // No reference to the library outlives this function.
      let parsed;
      const ref = (() => {
        const y = sm.yaml();
        parsed = y.parse('a: [1, 2]\\nb: {c: x}\\n');
        return new WeakRef(y);
      })();
      const loadedFiles = yamlFiles().length;
      const listed = sm.startupModulesLoaded().length;
      const smModule = require.cache[require.resolve(${JSON.stringify(modulePath)})];
      const childBefore = smModule.children.some((c) => c.filename.includes('node_modules/yaml/'));
      sm.releaseStartupModules();
      await turn();
      for (let i = 0; i < 4; i++) { global.gc(); await turn(); }
      process.stdout.write(JSON.stringify({
        parsed, loadedFiles, listed, childBefore,
        childAfter: smModule.children.some((c) => c.filename.includes('node_modules/yaml/')),
        filesAfter: yamlFiles().length, listedAfter: sm.startupModulesLoaded().length,
        collected: ref.deref() === undefined,
      }));
    })();
  `);
  t.same(r.parsed, { a: [1, 2], b: { c: 'x' } }, 'parses');
  t.ok(r.loadedFiles > 10, `the library is ${r.loadedFiles} files`);
  t.equal(r.listed, r.loadedFiles, 'all of them listed as loaded here');
  t.ok(r.childBefore, 'linked into the module tree while in use');
  t.notOk(r.childAfter, 'unlinked after release');
  t.equal(r.filesAfter, 0, 'no file of it left in require.cache');
  t.equal(r.listedAfter, 0, 'nothing left to forget');
  t.ok(r.collected, 'the GC collected the library');
});

t.test('a use after release works and is let go on the next turn', async (t) => {
  const r = child(`${prelude}
    (async () => {
      sm.yaml().parse('x: 1');
      sm.releaseStartupModules();
      const filesReleased = yamlFiles().length;
      const out = sm.yaml().stringify({ k: ['v'] }, { aliasDuplicateObjects: false });
      const filesDuringUse = yamlFiles().length;
      await turn();
      process.stdout.write(JSON.stringify({ filesReleased, out, filesDuringUse, filesAfter: yamlFiles().length }));
    })();
  `);
  t.equal(r.filesReleased, 0, 'released');
  t.equal(r.out, 'k:\n  - v\n', 'stringifies after release');
  t.ok(r.filesDuringUse > 10, 'loaded again for the late use');
  t.equal(r.filesAfter, 0, 'and let go on the next turn');
});

t.test('a library loaded by something else first is shared and kept', async (t) => {
  const r = child(`${prelude}
    (async () => {
      const other = require('yaml');
      const same = sm.yaml() === other;
      const before = yamlFiles().length;
      sm.releaseStartupModules();
      await turn();
      process.stdout.write(JSON.stringify({ same, before, after: yamlFiles().length, cached: require('yaml') === other }));
    })();
  `);
  t.ok(r.same, 'the same instance');
  t.ok(r.before > 10);
  t.equal(r.after, r.before, 'nothing forgotten');
  t.ok(r.cached, 'require still returns the shared instance');
});
