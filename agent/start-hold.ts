/**
 * kuma-dp's start-up holds, applied as the first thing `kuma-dp run` does: main.ts
 * imports this module before any other, so that no module load happens under V8's
 * defaults. Held: the young generation's growth (agent/heap-growth.ts), the optimizing
 * compiler (agent/compiler-hold.ts); long.js is loaded without its WebAssembly part.
 * When start-up is over, the libraries only start-up needs are let go
 * (agent/startup-modules.ts).
 * Other commands (`version`, `help`) are left alone.
 */
import { holdOptimizingCompiler, loadLongWithoutWasm, type CompilerHold } from './compiler-hold';
import { holdYoungGenerationGrowth } from './heap-growth';
import { releaseStartupModules } from './startup-modules';

export interface StartHolds {
  /** Start-up is over (the proxy is ready, or gave up): what waited for that goes on. */
  startupOver(): void;
}

function apply(): StartHolds {
  const releaseGrowth = holdYoungGenerationGrowth();
  const compiler: CompilerHold = holdOptimizingCompiler();
  loadLongWithoutWasm();
  return {
    startupOver() {
      releaseGrowth();
      compiler.startWatching();
      releaseStartupModules();
    },
  };
}

export const startHolds: StartHolds | undefined = process.argv[2] === 'run' ? apply() : undefined;
