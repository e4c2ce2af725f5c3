/**
 * What kuma-dp keeps V8's compilers from doing while it has no work (issue 4, idle RSS).
 *
 * TurboFan, V8's optimizing compiler, is most of the code of the node binary that a Node
 * process touches only when it optimizes a function. The first optimization pages in
 * ~3.5 MiB of the binary's text and read-only data, and its zones and code add ~2 MiB of
 * private memory (measured with 100 VIP outbounds: RssFile 44.2 -> 40.3 MiB, RssAnon
 * -1 to -2 MiB, with TurboFan off). Start-up is the only thing an idle sidecar does that
 * gets hot enough to be optimized (module loading, decoding the first snapshot); after
 * that, the little an idle proxy does (DNS VIP polls, ADS keepalives) tiers a function
 * up within seconds to minutes (node's shared `wrappedFn` validator wrapper, in our runs),
 * and the pages stay for the life of the process.
 *
 * So TurboFan is off from the first line of kuma-dp until the process has work: after
 * start-up, the event loop busy at least LOAD_FRACTION of the time in LOAD_WINDOWS
 * consecutive LOAD_WINDOW_MS windows; before start-up is over, more than
 * STARTUP_BUSY_BUDGET_MS of event-loop time (a config big enough that decoding it is
 * worth optimizing). Then it is on for good, exactly as before: a proxy under load
 * optimizes its hot paths ~2 s later than it would have, and an idle one never pays for
 * the compiler. The event loop's busy time (performance.eventLoopUtilization) is the
 * measure because TurboFan only speeds up JavaScript, which runs there; it leaves out
 * GC helper threads. What an idle kuma-dp does measured 0.4-0.7 % per second, and V8's
 * memory reducer, which runs ~8 s after start-up, 3-5.5 % for 2-3 s. Ignition and Sparkplug (V8's interpreter and baseline
 * compiler) run throughout. A user who set any optimizer flag (`--turbofan`, `--no-opt`,
 * `--jitless`, ...) is left alone, so `node --turbofan dist/agent/main.js run` turns
 * the hold off.
 *
 * While the hold lasts after start-up, V8 also flushes code sooner: bytecode (and the
 * Sparkplug code compiled from it) of a function not run since the previous full GC is
 * dropped at the next one (--bytecode-old-age=1 --flush-baseline-code; V8's defaults are
 * 5 full GCs and never for baseline code). After start-up that is most of the code:
 * module bodies, the config parser and validators, the first snapshot's decoders. A
 * function that runs again is compiled again from its source, lazily, as V8 does for
 * every function the first time. The defaults come back with the optimizer, so a loaded
 * proxy does not recompile what it uses now and then.
 *
 * long.js (protobufjs's int64) compiles a small WebAssembly module at load for 64-bit
 * multiply and divide; the compile pages in another ~0.75 MiB of the binary (Liftoff and
 * the wasm runtime). kuma-dp only turns a few int64 fields (durations, limits) into
 * strings while applying config, where long.js's pure-JS arithmetic (the one it uses
 * wherever WebAssembly is missing) costs nothing measurable, so kuma-dp loads it with
 * WebAssembly hidden.
 */
import { createRequire } from 'node:module';
import v8 from 'node:v8';

/** Event-loop utilization that counts as work... */
export const LOAD_FRACTION = 0.1;
/** ...when it lasts this many consecutive windows... */
export const LOAD_WINDOWS = 2;
/** ...of this length (also the poll period). */
export const LOAD_WINDOW_MS = 1000;
/** Event-loop busy time before start-up is over beyond which the optimizer is let in anyway. */
export const STARTUP_BUSY_BUDGET_MS = 2000;

/** V8's defaults (V8 11, Node 20) for what the idle flushing changes. */
export const DEFAULT_BYTECODE_OLD_AGE = 5;

const OPTIMIZER_FLAG = /^--(no-?)?(turbofan|opt|jitless|lite-mode|max-opt|always-opt|always-turbofan)(=|$)/;
const FLUSHING_FLAG = /^--(no-?)?(bytecode-old-age|flush-bytecode|flush-baseline-code|stress-flush-code|jitless|lite-mode)(=|$)/;

function userSet(re: RegExp, execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const norm = (s: string) => (s.startsWith('--') ? '--' + s.slice(2).replace(/_/g, '-') : s);
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((s) => re.test(norm(s)));
}

/** True when the user passed a flag that decides about the optimizer (command line or NODE_OPTIONS). */
export function userSetOptimizerFlags(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return userSet(OPTIMIZER_FLAG, execArgv, nodeOptions);
}

/** True when the user passed a flag that decides about code flushing. */
export function userSetFlushingFlags(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return userSet(FLUSHING_FLAG, execArgv, nodeOptions);
}

export interface CompilerHold {
  /** Start-up is over: from now on, the hold ends on sustained load. Idempotent. */
  startWatching(): void;
  /** Lets the optimizer in now (idempotent); the hold is then over for good. */
  release(): void;
  /** Whether the optimizer is still held. */
  held(): boolean;
}

interface HoldDeps {
  execArgv?: readonly string[];
  nodeOptions?: string;
  setFlags?: (flags: string) => void;
  /** The event loop's busy and idle time so far, in ms (performance.eventLoopUtilization). */
  loopTimes?: () => { active: number; idle: number };
  setInterval?: (fn: () => void, ms: number) => { unref?: () => unknown };
  clearInterval?: (t: unknown) => void;
  /** Told once, when the hold ends, with the reason. */
  onRelease?: (why: ReleaseReason) => void;
}

export type ReleaseReason = 'load' | 'startup-budget' | 'explicit';

/** Turns TurboFan off until the process has work (see the file comment). */
export function holdOptimizingCompiler(o: HoldDeps = {}): CompilerHold {
  const setFlags = o.setFlags ?? v8.setFlagsFromString;
  const loopTimes = o.loopTimes ?? (() => performance.eventLoopUtilization());
  const every = o.setInterval ?? setInterval;
  const stop = o.clearInterval ?? ((t: unknown) => clearInterval(t as NodeJS.Timeout));
  const [execArgv, nodeOptions] = [o.execArgv ?? process.execArgv, o.nodeOptions ?? process.env.NODE_OPTIONS];
  if (userSetOptimizerFlags(execArgv, nodeOptions)) {
    return { startWatching: () => undefined, release: () => undefined, held: () => false };
  }
  const flushSoon = !userSetFlushingFlags(execArgv, nodeOptions);
  let flushing = false;
  setFlags('--no-turbofan');
  let isHeld = true;
  let watching = false;
  let last = loopTimes();
  let busyWindows = 0;
  const end = (why: ReleaseReason) => {
    if (!isHeld) return;
    isHeld = false;
    stop(timer);
    setFlags('--turbofan');
    if (flushing) setFlags(`--bytecode-old-age=${DEFAULT_BYTECODE_OLD_AGE} --no-flush-baseline-code`);
    o.onRelease?.(why);
  };
  const timer = every(() => {
    const cur = loopTimes();
    if (!watching) {
      if (cur.active > STARTUP_BUSY_BUDGET_MS) end('startup-budget');
      return;
    }
    // Measured against the window's real length: a late timer (busy loop) stretches it.
    const active = cur.active - last.active;
    const wall = active + (cur.idle - last.idle);
    last = cur;
    busyWindows = wall > 0 && active >= LOAD_FRACTION * wall ? busyWindows + 1 : 0;
    if (busyWindows >= LOAD_WINDOWS) end('load');
  }, LOAD_WINDOW_MS);
  timer.unref?.();
  return {
    startWatching() {
      if (watching || !isHeld) return;
      watching = true;
      // The first window starts now: start-up's own work does not count as load.
      last = loopTimes();
      if (flushSoon) {
        flushing = true;
        setFlags('--bytecode-old-age=1 --flush-baseline-code');
      }
    },
    release: () => end('explicit'),
    held: () => isHeld,
  };
}

/**
 * Loads long.js, as protobufjs will find it, with WebAssembly hidden so that it uses its
 * pure-JS arithmetic (see the file comment). Must run before protobufjs loads; returns
 * false, changing nothing, when long.js is already loaded or cannot be found.
 */
export function loadLongWithoutWasm(): boolean {
  let req: NodeRequire;
  let file: string;
  try {
    req = createRequire(require.resolve('protobufjs/light'));
    file = req.resolve('long');
  } catch {
    return false;
  }
  if (require.cache[file]) return false;
  const g = globalThis as { WebAssembly?: unknown };
  const wasm = g.WebAssembly;
  g.WebAssembly = undefined;
  try {
    req(file);
  } finally {
    g.WebAssembly = wasm;
  }
  return true;
}
