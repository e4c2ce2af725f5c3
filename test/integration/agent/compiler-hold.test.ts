/**
 * agent/compiler-hold.ts: in a real Node process, a function hot enough to be optimized
 * is not while the hold lasts and is once it ends (a V8 that ignored the runtime flag
 * fails here); long.js loaded through it compiles no WebAssembly and still does 64-bit
 * arithmetic; the hold's rules (start-up budget, sustained load, user flags) with a fake
 * clock.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import {
  DEFAULT_BYTECODE_OLD_AGE,
  holdOptimizingCompiler,
  LOAD_WINDOW_MS,
  STARTUP_BUSY_BUDGET_MS,
  userSetFlushingFlags,
  userSetOptimizerFlags,
  type ReleaseReason,
} from '../../../agent/compiler-hold';

const modulePath = path.resolve(__dirname, '../../../agent/compiler-hold.js');

function child(script: string, nodeArgs: string[] = []): any {
  const r = spawnSync(process.execPath, [...nodeArgs, '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

t.test('a hot function stays unoptimized while held and is optimized after the release', async (t) => {
  const r = child(
    `
    const { holdOptimizingCompiler } = require(${JSON.stringify(modulePath)});
    const hold = holdOptimizingCompiler();
    function hot(a) { let s = 0; for (let i = 0; i < 100; i++) s += (a * i) % 7; return s; }
    // V8's OptimizationStatus: bit 4 = optimized (TurboFan or Maglev).
    const optimized = () => (%GetOptimizationStatus(hot) & 16) !== 0;
    const spin = (ms) => { const end = Date.now() + ms; let x = 0; while (Date.now() < end) for (let i = 0; i < 1000; i++) x += hot(i); return x; };
    spin(1500);
    const whileHeld = optimized();
    hold.release();
    spin(1500);
    process.stdout.write(JSON.stringify({ whileHeld, afterRelease: optimized(), held: hold.held() }));
    `,
    ['--allow-natives-syntax'],
  );
  t.equal(r.whileHeld, false, 'not optimized while held');
  t.equal(r.afterRelease, true, 'optimized once released');
  t.equal(r.held, false);
});

t.test('without the hold the same function is optimized (the test can see optimization)', async (t) => {
  const r = child(
    `
    function hot(a) { let s = 0; for (let i = 0; i < 100; i++) s += (a * i) % 7; return s; }
    const end = Date.now() + 1500; let x = 0; while (Date.now() < end) for (let i = 0; i < 1000; i++) x += hot(i);
    process.stdout.write(JSON.stringify({ optimized: (%GetOptimizationStatus(hot) & 16) !== 0 }));
    `,
    ['--allow-natives-syntax'],
  );
  t.equal(r.optimized, true);
});

t.test('long.js loaded without WebAssembly: no module compiled, protobufjs uses that Long, arithmetic intact', async (t) => {
  const script = (withHold: boolean) => `
    let compiled = 0;
    const Module = WebAssembly.Module;
    WebAssembly.Module = function (...a) { compiled++; return new Module(...a); };
    const { loadLongWithoutWasm } = require(${JSON.stringify(modulePath)});
    const loaded = ${withHold} ? loadLongWithoutWasm() : false;
    const req = require('module').createRequire(${JSON.stringify(modulePath)});
    const protobuf = req('protobufjs/light');
    const Long = protobuf.util.Long;
    const big = Long.fromString('9007199254740993');
    process.stdout.write(JSON.stringify({
      loaded,
      compiled,
      wasmBack: typeof WebAssembly.Module === 'function',
      sameLong: Long === req(require('module').createRequire(req.resolve('protobufjs/light')).resolve('long')),
      str: big.toString(),
      mul: big.multiply(Long.fromInt(3)).toString(),
      div: Long.fromString('18446744073709551615', true).divide(Long.fromInt(7, true)).toString(),
      again: loadLongWithoutWasm(),
    }));
  `;
  const control = child(script(false));
  t.equal(control.compiled, 1, 'long.js compiles its WebAssembly module when loaded normally');
  const r = child(script(true));
  t.equal(r.loaded, true);
  t.equal(r.compiled, 0, 'no WebAssembly compiled');
  t.equal(r.wasmBack, true, 'WebAssembly restored');
  t.equal(r.sameLong, true, 'protobufjs found the same long.js');
  t.equal(r.str, '9007199254740993');
  t.equal(r.mul, '27021597764222979');
  t.equal(r.div, '2635249153387078802');
  t.equal(r.again, false, 'a second call changes nothing');
  t.same([r.str, r.mul, r.div], [control.str, control.mul, control.div], 'same results as with WebAssembly');
});

/** A hold driven by a fake event-loop clock and a manual timer. */
function fakeHold(o: { execArgv?: string[]; nodeOptions?: string } = {}) {
  const flags: string[] = [];
  const loop = { active: 0, idle: 0 };
  let tick: (() => void) | undefined;
  let cleared = false;
  const released: ReleaseReason[] = [];
  const hold = holdOptimizingCompiler({
    execArgv: o.execArgv ?? [],
    nodeOptions: o.nodeOptions ?? '',
    setFlags: (f) => flags.push(f),
    loopTimes: () => ({ ...loop }),
    setInterval: (fn, ms) => {
      if (ms !== LOAD_WINDOW_MS) throw new Error(`unexpected period ${ms}`);
      tick = fn;
      return { unref: () => undefined };
    },
    clearInterval: () => {
      cleared = true;
    },
    onRelease: (why) => released.push(why),
  });
  /** One window in which the loop was busy `busyMs` of `LOAD_WINDOW_MS`. */
  const window = (busyMs: number) => {
    loop.active += busyMs;
    loop.idle += LOAD_WINDOW_MS - busyMs;
    tick?.();
  };
  return { hold, flags, loop, window, released, cleared: () => cleared, tick: () => tick?.() };
}

t.test('after start-up: idle and short bursts keep the hold, sustained load ends it and restores the defaults', async (t) => {
  const f = fakeHold();
  t.same(f.flags, ['--no-turbofan']);
  f.hold.startWatching();
  t.same(f.flags, ['--no-turbofan', '--bytecode-old-age=1 --flush-baseline-code'], 'idle flushing from start-up over');
  for (let i = 0; i < 30; i++) f.window(7); // an idle kuma-dp: ~0.5 % busy
  f.window(55); // V8's memory reducer: a few % for 2-3 s
  f.window(40);
  f.window(150); // one busy window alone (a config push)
  f.window(5);
  t.equal(f.hold.held(), true, 'still held');
  t.same(f.released, []);
  f.window(400);
  f.window(900);
  t.equal(f.hold.held(), false, 'released after two busy windows in a row');
  t.same(f.released, ['load']);
  t.equal(f.cleared(), true, 'the poll stops');
  t.same(f.flags.slice(2), ['--turbofan', `--bytecode-old-age=${DEFAULT_BYTECODE_OLD_AGE} --no-flush-baseline-code`]);
  f.hold.release();
  f.window(900);
  t.equal(f.flags.length, 4, 'nothing set twice');
});

t.test('before start-up is over: only a long busy start-up ends the hold', async (t) => {
  const f = fakeHold();
  f.window(900);
  f.window(900);
  t.equal(f.hold.held(), true, 'start-up load is not load');
  f.loop.active = STARTUP_BUSY_BUDGET_MS + 1;
  f.tick();
  t.equal(f.hold.held(), false);
  t.same(f.released, ['startup-budget']);
  t.same(f.flags, ['--no-turbofan', '--turbofan'], 'flushing was never changed, so not restored');
  f.hold.startWatching();
  t.same(f.flags, ['--no-turbofan', '--turbofan'], 'watching after the release changes nothing');
});

t.test('the window starts at start-up over: start-up work before it does not count', async (t) => {
  const f = fakeHold();
  f.loop.active = 1500;
  f.loop.idle = 100;
  f.hold.startWatching();
  f.window(10);
  f.window(10);
  t.equal(f.hold.held(), true);
});

t.test('explicit release, and flags the user chose are left alone', async (t) => {
  const f = fakeHold();
  f.hold.release();
  t.same(f.released, ['explicit']);
  t.same(f.flags, ['--no-turbofan', '--turbofan']);

  for (const o of [{ execArgv: ['--turbofan'] }, { execArgv: ['--no-opt'] }, { nodeOptions: '--max-old-space-size=100 --jitless' }, { execArgv: ['--max_opt=2'] }]) {
    const g = fakeHold(o);
    g.hold.startWatching();
    g.window(900);
    g.window(900);
    t.same(g.flags, [], `nothing set with ${JSON.stringify(o)}`);
    t.equal(g.hold.held(), false);
  }
  const h = fakeHold({ execArgv: ['--bytecode-old-age=3'] });
  h.hold.startWatching();
  t.same(h.flags, ['--no-turbofan'], 'the optimizer is held, flushing left as the user set it');

  t.ok(userSetOptimizerFlags([], '--inspect --turbofan'));
  t.ok(userSetOptimizerFlags(['--no-turbofan'], undefined));
  t.notOk(userSetOptimizerFlags(['--allow-natives-syntax', '--optimize-for-size', '--semi-space-growth-factor=2'], '--max-old-space-size=64'));
  t.ok(userSetFlushingFlags(['--no-flush-bytecode'], undefined));
  t.ok(userSetFlushingFlags([], '--flush_baseline_code'));
  t.notOk(userSetFlushingFlags(['--turbofan'], undefined));
});
