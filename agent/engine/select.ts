/**
 * Choosing the proxy engine: `envoy` needs a binary, `embedded` needs the embedded
 * engine module, `auto` takes Envoy when one is found and the embedded engine
 * otherwise, and says which and why.
 */
import { KumaError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { EngineOptions, ProxyEngine } from './engine';
import { discoverEnvoy, defaultDiscoveryDeps, type DiscoveryDeps } from '../envoy/discovery';
import { readEnvoyVersion, type EnvoyVersion } from '../envoy/version';
import { EnvoyEngine } from '../envoy/envoy-engine';

/** No engine can run with the given settings. */
export class EngineUnavailableError extends KumaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ENGINE_UNAVAILABLE', message, options);
  }
}

/** The decision, made before the bootstrap (the CP wants to know the Envoy version). */
export type EngineChoice =
  | { kind: 'envoy'; binaryPath: string; version: EnvoyVersion; reason: string }
  | { kind: 'embedded'; reason: string };

/** Constructor of the embedded engine (agent/engine/embedded/embedded-engine.ts). */
export type EmbeddedEngineCtor = new (opts: EngineOptions) => ProxyEngine;

/** Loads the embedded engine lazily so that a kuma-dp running Envoy never pays for it. */
export function loadEmbeddedEngine(): EmbeddedEngineCtor | undefined {
  // A computed specifier keeps tsc from requiring the module at build time.
  const specifier = './embedded/embedded-engine';
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require(specifier);
    return typeof mod.EmbeddedEngine === 'function' ? mod.EmbeddedEngine : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes('embedded-engine')) return undefined;
    throw err;
  }
}

/** Inputs of the choice. */
export interface SelectInput {
  engine: 'auto' | 'envoy' | 'embedded';
  binaryPath?: string;
  log: Logger;
  discovery?: DiscoveryDeps;
  embedded?: () => EmbeddedEngineCtor | undefined;
}

/** Picks the engine; throws EngineUnavailableError naming every place searched. */
export async function selectEngine(i: SelectInput): Promise<EngineChoice> {
  const embedded = i.embedded ?? loadEmbeddedEngine;
  if (i.engine === 'embedded') {
    if (!embedded()) throw new EngineUnavailableError('--engine=embedded: embedded engine not available in this build (agent/engine/embedded/embedded-engine is missing)');
    return { kind: 'embedded', reason: '--engine=embedded' };
  }
  const found = discoverEnvoy(i.binaryPath, i.discovery ?? defaultDiscoveryDeps());
  if (found.path) {
    let version: EnvoyVersion;
    try {
      version = await readEnvoyVersion(found.path, undefined, (ms) =>
        i.log.warn({ binary: found.path, timeoutMs: ms }, '"envoy --version" did not answer in time; trying once more with a longer limit'),
      );
    } catch (err) {
      if (i.engine === 'envoy' || i.binaryPath) throw new EngineUnavailableError(`Envoy at ${found.path} is not usable: ${(err as Error).message}`, { cause: err });
      i.log.warn({ binary: found.path, err: (err as Error).message }, 'found an Envoy that does not run; falling back to the embedded engine');
      return fallback(`Envoy at ${found.path} does not run`);
    }
    const reason = i.engine === 'envoy' ? `--engine=envoy, found via ${found.how}` : `Envoy found via ${found.how}`;
    i.log.info({ engine: 'envoy', binary: found.path, version: version.version, reason }, 'selected engine');
    return { kind: 'envoy', binaryPath: found.path, version, reason };
  }
  const where = found.searched.join(', ');
  if (i.engine === 'envoy' || i.binaryPath) {
    const what = i.binaryPath ? `--binary-path=${i.binaryPath}: no executable Envoy there` : '--engine=envoy: no Envoy binary found';
    throw new EngineUnavailableError(`${what}; searched: ${where || '(PATH is empty)'}. Install one with func-e (func-e use <version>) or pass --binary-path`);
  }
  return fallback(`no Envoy binary found (searched: ${where || 'PATH is empty'})`);

  function fallback(why: string): EngineChoice {
    if (!embedded()) {
      throw new EngineUnavailableError(`--engine=auto: ${why}, and the embedded engine is not available in this build`);
    }
    i.log.info({ engine: 'embedded', reason: why }, 'selected engine');
    return { kind: 'embedded', reason: why };
  }
}

/** Options an Envoy engine needs beyond EngineOptions. */
export interface EnvoyRuntimeOptions {
  restartPolicy: 'never' | 'on-failure';
  stopTimeoutMs: number;
}

/** Builds the chosen engine. */
export function createEngine(choice: EngineChoice, opts: EngineOptions, envoy: EnvoyRuntimeOptions, embedded: () => EmbeddedEngineCtor | undefined = loadEmbeddedEngine): ProxyEngine {
  if (choice.kind === 'envoy') {
    return new EnvoyEngine({ ...opts, binaryPath: choice.binaryPath, restartPolicy: envoy.restartPolicy, stopTimeoutMs: envoy.stopTimeoutMs });
  }
  const Ctor = embedded();
  if (!Ctor) throw new EngineUnavailableError('embedded engine not available');
  return new Ctor(opts);
}
