/**
 * Libraries kuma-dp needs only while it starts (issue 4, idle RSS).
 *
 * The YAML library reads the Dataplane template and the CP's bootstrap and writes
 * bootstrap.yaml; after start-up nothing uses it, yet a loaded CommonJS module lives as
 * long as the process: its 72 files stay in require.cache, their source text stays on
 * the heap (V8 keeps it to compile functions lazily), with the scope infos and function
 * records built from it. Measured in one process: loading yaml and parsing a Dataplane
 * adds 1.1 MiB to the live heap; dropping it again gives 0.8 MiB back. In kuma-dp's idle
 * RSS (with the protobuf writers below) that is a few hundred KiB, within the run-to-run
 * spread (bench/results/dp-startup-memory-analysis-2026-11-26.md, addendum).
 *
 * So kuma-dp loads it through here, on first use, and `releaseStartupModules()` (called
 * when start-up is over, see start-hold.ts) forgets what this module loaded: the
 * require.cache entries and the module-tree links node keeps from parent to child. Once
 * nothing refers to the library any more, the next full GC collects it. A use after
 * that loads it again and lets it go on the next turn of the event loop (a bootstrap
 * fetched again after a CP outage, say), so a late caller is only slower, never wrong.
 *
 * Only files this module caused to load are forgotten: when something else in the
 * process had loaded the library first (kuma-cp and kuma-dp in one test process), it
 * is shared and stays.
 */
import type * as YamlModule from 'yaml';

type Yaml = typeof YamlModule;

let yamlModule: Yaml | undefined;
let loadedHere: string[] = [];
let released = false;
let evictScheduled = false;

/** The YAML library, loaded on first use. Return values must not keep its classes past start-up. */
export function yaml(): Yaml {
  if (yamlModule === undefined) {
    const before = new Set(Object.keys(require.cache));
    yamlModule = require('yaml') as Yaml;
    loadedHere = Object.keys(require.cache).filter((k) => !before.has(k));
  }
  if (released && !evictScheduled) {
    evictScheduled = true;
    setImmediate(evict);
  }
  return yamlModule;
}

/**
 * Start-up is over: forget the start-up-only libraries, and the encoders protobufjs
 * generated for the xDS types decoded so far (proto/index.ts dropGeneratedWriters; the
 * few types kuma-dp sends, DiscoveryRequest and its parts, are generated again on the
 * next send and kept). Idempotent.
 */
export function releaseStartupModules(): void {
  released = true;
  evict();
  // Only when something loaded the protobuf facade; this must not load it.
  const protoIndex = require.cache[require.resolve('../proto/index')];
  if (protoIndex) (protoIndex.exports as typeof import('../proto/index')).dropGeneratedWriters();
}

/** What this module loaded and has not forgotten yet (for tests). */
export function startupModulesLoaded(): readonly string[] {
  return loadedHere;
}

function evict(): void {
  evictScheduled = false;
  if (loadedHere.length === 0) return;
  const gone = new Set(loadedHere);
  for (const file of gone) delete require.cache[file];
  // Every Module lists the modules it loaded first; ours lists the library's entry file.
  for (const m of [module, ...Object.values(require.cache)]) {
    if (m?.children.some((c) => gone.has(c.filename))) m.children = m.children.filter((c) => !gone.has(c.filename));
  }
  loadedHere = [];
  yamlModule = undefined;
}
