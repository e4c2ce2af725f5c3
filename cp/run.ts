/**
 * Assembling and running kuma-cp. `buildControlPlane` turns a config into components
 * (store first, then per-mode components, the API server last) held by one
 * ComponentManager; `runControlPlane` is the `kuma-cp run` command: load config, build,
 * start, wait for SIGTERM/SIGINT, stop in reverse order within a deadline.
 *
 * To add a component: write a ComponentFactory and list it in MODE_COMPONENTS for the
 * modes that run it. A factory gets the CpContext (config, log, store, the API extension
 * registry) and may register routes and write guards there before the API server starts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Component } from '../lib/component';
import { ComponentManager } from '../lib/component';
import { ConflictError, KumaError, UsageError } from '../lib/errors';
import { createLogger, type Logger } from '../lib/logger';
import { ApiServer } from './api-server/api-server';
import { ApiExtensions } from './api-server/extension-registry';
import { loadConfig, unknownConfigKeys, type CpConfig, type CpMode } from './config/config';
import * as E from './config/env';
import { productVersion } from '../lib/version';
import { createStore } from './store/index';
import { globalKdsFactory, storeTokenAuthenticator, zoneKdsFactory } from './kds/multizone';
import type { ResourceStore } from './store/store';
import { defaultPoliciesFactory, dpServerFactory } from './dp-server/factory';
import { caFactory } from './ca/factory';
import { cpDnsFactory } from './dns/factory';
import { tokenRoutesFactory } from './tokens/factory';
import { sharedVipAllocator, vipAllocatorFactory } from './vips/factory';

/** The DP server uses the CP's one VIP allocator (also read by the CP DNS server). */
const sharedDpDeps = (ctx: CpContext) => ({ vips: sharedVipAllocator(ctx) });

/** What every component factory receives. */
export interface CpContext {
  config: CpConfig;
  log: Logger;
  store: ResourceStore;
  /** Register extra REST routes, write guards and the dataplane status provider here. */
  api: ApiExtensions;
  version: string;
}

/** Builds zero, one or several components for a mode; may register API extensions on ctx.api. */
export type ComponentFactory = (ctx: CpContext) => Component | Component[] | undefined | Promise<Component | Component[] | undefined>;

/** Internal marker (a Config resource) that mesh `default` was created once; deleting the mesh later is respected. */
export const DEFAULT_MESH_MARKER = 'kuma-cp.default-mesh-created';

/** Creates mesh `default` on the first start of a store (standalone and global). */
export const defaultMeshFactory: ComponentFactory = (ctx) => {
  if (ctx.config.defaults.skipMeshCreation) return undefined;
  return {
    name: 'default-mesh',
    async start() {
      if (await ctx.store.get('Config', { name: DEFAULT_MESH_MARKER })) return;
      const ops: Parameters<ResourceStore['transaction']>[0] = [{ op: 'upsert', input: { type: 'Config', name: DEFAULT_MESH_MARKER, spec: { config: 'true' } } }];
      if (!(await ctx.store.get('Mesh', { name: 'default' }))) ops.push({ op: 'create', input: { type: 'Mesh', name: 'default', spec: {} } });
      try {
        await ctx.store.transaction(ops);
      } catch (err) {
        // Another replica on the same (PostgreSQL) store created it in the meantime: fine.
        if (err instanceof ConflictError && (await ctx.store.get('Mesh', { name: 'default' }))) return;
        throw err;
      }
      if (ops.length > 1) ctx.log.info({ mesh: 'default' }, 'created default mesh');
    },
    async close() {},
    destroy() {},
  };
};

/**
 * The components of each mode, in start order (they stop in reverse). The store comes
 * before all of them and the API server after all of them (so that a listening API
 * means everything else is up).
 */
export const MODE_COMPONENTS: Record<CpMode, ComponentFactory[]> = {
  standalone: [defaultMeshFactory, defaultPoliciesFactory, caFactory, tokenRoutesFactory, vipAllocatorFactory, dpServerFactory(sharedDpDeps), cpDnsFactory],
  global: [defaultMeshFactory, defaultPoliciesFactory, caFactory, tokenRoutesFactory, globalKdsFactory({ authenticator: storeTokenAuthenticator })],
  zone: [zoneKdsFactory(), tokenRoutesFactory, vipAllocatorFactory, dpServerFactory(sharedDpDeps), cpDnsFactory],
};

/** Opens the configured store (cp/store's factory; sqlite keeps its file in the work dir). */
function openStore(config: CpConfig, log: Logger): Promise<ResourceStore> {
  return createStore({ type: config.store.type, workDir: config.general.workDir, postgres: config.store.postgres, logger: log.child({ component: 'store' }) });
}

/** Closes the store when the CP stops (it is added first, so it closes last). */
function storeComponent(store: ResourceStore): Component {
  return { name: 'store', start: async () => {}, close: () => store.close(), destroy: () => void store.close().catch(() => undefined) };
}

/** A built control plane: start and stop it, reach its parts. */
export interface ControlPlane {
  ctx: CpContext;
  manager: ComponentManager;
  apiServer: ApiServer;
  start(): Promise<void>;
  /** Graceful stop in reverse order; components past the deadline are destroyed. */
  stop(deadlineMs?: number): Promise<void>;
}

/** Options for tests and embedders. */
export interface BuildOptions {
  /** Components added after the mode's own and before the API server. */
  extraFactories?: ComponentFactory[];
  /** Use this store instead of opening the configured one. */
  store?: ResourceStore;
}

/** Assembles the control plane for config.mode; nothing is bound until start(). */
export async function buildControlPlane(config: CpConfig, log: Logger, opts: BuildOptions = {}): Promise<ControlPlane> {
  fs.mkdirSync(config.general.workDir, { recursive: true, mode: 0o700 });
  const store = opts.store ?? (await openStore(config, log));
  const ctx: CpContext = { config, log, store, api: new ApiExtensions(), version: productVersion() };
  const manager = new ComponentManager(log);
  manager.add(storeComponent(store));
  try {
    for (const factory of [...MODE_COMPONENTS[config.mode], ...(opts.extraFactories ?? [])]) {
      const made = await factory(ctx);
      for (const c of made === undefined ? [] : Array.isArray(made) ? made : [made]) manager.add(c);
    }
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  const apiServer = new ApiServer({
    store,
    log: log.child({ component: 'api-server' }),
    port: config.apiServer.http.port,
    address: config.apiServer.http.interface,
    extensions: ctx.api,
    info: { version: ctx.version, mode: config.mode },
  });
  manager.add(apiServer);
  return { ctx, manager, apiServer, start: () => manager.start(), stop: (ms) => manager.stop(ms) };
}

/** Exit codes of kuma-cp (sysexits: 64 = usage). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 64;

/** How long a graceful stop may take before components are destroyed. */
export const STOP_DEADLINE_MS = 10_000;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Arguments of `kuma-cp run`. */
export interface RunOptions {
  configFile?: string;
  logLevel?: string;
}

/** `kuma-cp run`: resolves with the exit code once the CP has stopped (or failed to start). */
export async function runControlPlane(opts: RunOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const level = opts.logLevel ?? env[E.KUMA_LOG_LEVEL] ?? 'info';
  if (!LOG_LEVELS.includes(level)) {
    process.stderr.write(`kuma-cp: log level ${JSON.stringify(level)} is not valid; use one of ${LOG_LEVELS.join(', ')}\n`);
    return EXIT_USAGE;
  }
  let config: CpConfig;
  let fileText: string | undefined;
  try {
    if (opts.configFile !== undefined) {
      try {
        fileText = fs.readFileSync(opts.configFile, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read --config-file ${opts.configFile}: ${(err as Error).message}`, { cause: err });
      }
    }
    config = loadConfig(env, fileText);
  } catch (err) {
    process.stderr.write(`kuma-cp: ${(err as Error).message}\n`);
    return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }
  config.general.workDir = path.resolve(config.general.workDir);
  const log = createLogger('kuma-cp', level);
  if (fileText !== undefined) {
    const ignored = unknownConfigKeys(fileText);
    if (ignored.length > 0) log.warn({ keys: ignored }, 'config file keys not supported by this control plane are ignored');
  }
  log.info({ mode: config.mode, storeType: config.store.type, workDir: config.general.workDir, version: productVersion() }, 'starting kuma-cp');

  let cp: ControlPlane;
  try {
    cp = await buildControlPlane(config, log);
    await cp.start();
  } catch (err) {
    log.error({ err: err instanceof KumaError ? { code: err.code, message: err.message } : err }, 'kuma-cp failed to start');
    return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }
  log.info({ mode: config.mode }, 'kuma-cp started');

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal, deadlineMs: STOP_DEADLINE_MS }, 'stopping kuma-cp');
  const force = (second: NodeJS.Signals) => {
    log.warn({ signal: second }, 'second signal: exiting without a graceful stop');
    process.exit(EXIT_FAILURE);
  };
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  try {
    await cp.stop(STOP_DEADLINE_MS);
  } catch (err) {
    log.error({ err }, 'kuma-cp did not stop cleanly');
    return EXIT_FAILURE;
  }
  log.info('kuma-cp stopped');
  return EXIT_OK;
}
