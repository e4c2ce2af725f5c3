/**
 * Young-generation sizing around kuma-dp's start-up (issue 4, idle RSS).
 *
 * V8 doubles the scavenger's semi-spaces (up to 16 MiB each on 64-bit) whenever many
 * young objects survive a scavenge. Start-up is exactly such a burst: modules load and the
 * first xDS snapshot (hundreds of listeners and clusters) is decoded and kept. V8 never
 * hands the grown space back to an idle process: it shrinks only in memory-reducing
 * collections, which an idle process does not run. Measured with 100 VIP outbounds, the
 * burst left 16 MiB of new space committed (0.8 MiB in use) for the life of the process.
 *
 * So kuma-dp holds the growth (growth factor 1) until the proxy is ready, then restores
 * V8's factor: traffic grows the young generation again exactly as before, so a loaded
 * proxy collects as it always did, while an idle one does not carry the start-up's
 * high-water mark. Nothing is capped (unlike --max-semi-space-size). A growth factor the
 * user chose (`node --semi-space-growth-factor=N`; NODE_OPTIONS refuses it, checked too
 * in case a later Node allows it) is left alone.
 */
import v8 from 'node:v8';

/** V8's default --semi-space-growth-factor (V8 11, Node 20). */
export const DEFAULT_SEMI_SPACE_GROWTH_FACTOR = 2;

const FLAG = '--semi-space-growth-factor';

/** True when the user set the growth factor on the command line or in NODE_OPTIONS. */
export function userSetGrowthFactor(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const mentions = (s: string) => s.startsWith(FLAG) || s.startsWith(FLAG.replace(/-/g, '_').replace(/^__/, '--'));
  return execArgv.some(mentions) || (nodeOptions ?? '').split(/\s+/).some(mentions);
}

/** Holds the young generation at its current size; returns the release (idempotent). */
export function holdYoungGenerationGrowth(
  o: { execArgv?: readonly string[]; nodeOptions?: string; setFlags?: (flags: string) => void } = {},
): () => void {
  const setFlags = o.setFlags ?? v8.setFlagsFromString;
  if (userSetGrowthFactor(o.execArgv ?? process.execArgv, o.nodeOptions ?? process.env.NODE_OPTIONS)) return () => undefined;
  setFlags(`${FLAG}=1`);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    setFlags(`${FLAG}=${DEFAULT_SEMI_SPACE_GROWTH_FACTOR}`);
  };
}
