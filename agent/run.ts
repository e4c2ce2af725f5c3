/**
 * `kuma-dp run`: phase 1 parses and validates (no binding), phase 2 builds the pieces
 * (readiness, DNS, bootstrap, engine) and phase 3 runs them under component managers
 * until a signal or the engine's exit. Readiness and DNS come before the bootstrap:
 * probes then see NOT READY rather than a refused connection, and names resolve from
 * the VIP cache while a restarted kuma-dp waits for a CP that is down. Shutdown: /ready turns TERMINATING, the engine
 * drains for --drain-time, then components stop in reverse order with a deadline; a
 * second signal forces an immediate exit.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ComponentManager } from '../lib/component';
import { createLogger, type Logger } from '../lib/logger';
import { sleep } from '../lib/backoff';
import { freePort } from '../lib/free-port';
import { agentMetrics, AgentMetric } from './admin/metrics';
import { ReadinessServer } from './admin/readiness-server';
import { buildBootstrapRequest, adminPortOf } from './bootstrap/request';
import { fetchBootstrap } from './bootstrap/client';
import { writeBootstrap } from './bootstrap/write';
import { resolveRunConfig, type RunConfig } from './cli/run-options';
import { productVersion as kumaDpVersion } from '../lib/version';
import { DnsServer } from './dns/dns-server';
import { VipPoller } from './dns/vip-poller';
import { parseResolvConf } from './dns/resolv-conf';
import { selectEngine, createEngine } from './engine/select';
import type { ProxyEngine } from './engine/engine';
import { useEnvoyBundle } from '../proto/index';

/** Exit status of a run: 0 clean stop, 1 failure, else the engine's. */
export type ExitCode = number;

/** Hooks into a run. */
export interface RunHooks {
  /**
   * Called once when start-up is over: the proxy reported ready, or START_SETTLE_MS
   * passed without that (a CP that sends no config), or kuma-dp is stopping.
   */
  onStarted?: () => void;
}

/** How long after the engine starts onStarted waits for the proxy to become ready. */
export const START_SETTLE_MS = 60_000;

/** Runs kuma-dp until it should exit; resolves with the exit code. UsageErrors propagate. */
export async function runKumaDp(argv: readonly string[], hooks: RunHooks = {}): Promise<ExitCode> {
  const cfg = resolveRunConfig(argv);
  // kuma-dp decodes only xDS resources: the pruned Envoy bundle saves MiBs of heap (issue 4).
  useEnvoyBundle('agent');
  const log = createLogger('kuma-dp', cfg.logLevel === 'off' ? 'silent' : cfg.logLevel).child({ mesh: cfg.mesh, dataplane: cfg.name });
  log.info({ version: kumaDpVersion(), proxyType: cfg.proxyType, cpAddress: cfg.cpAddress.origin, engine: cfg.engine }, 'starting kuma-dp');
  let started = false;
  const onStarted = () => {
    if (started) return;
    started = true;
    hooks.onStarted?.();
  };
  try {
    return await new Runner(cfg, log, onStarted).run();
  } finally {
    onStarted();
  }
}

class Runner {
  private readonly metrics = agentMetrics();
  /** The engine (started after the bootstrap). */
  private readonly manager: ComponentManager;
  /** DNS server and VIP poller (started before the bootstrap, stopped after the engine). */
  private readonly dnsManager: ComponentManager;
  private readonly abort = new AbortController();
  private engine?: ProxyEngine;
  private readiness?: ReadinessServer;
  private signals = 0;
  private stopping?: Promise<ExitCode>;
  private resolveExit!: (code: ExitCode) => void;
  private readonly exit = new Promise<ExitCode>((r) => (this.resolveExit = r));
  private tempDir?: string;
  private starting?: Promise<boolean>;

  constructor(
    private readonly cfg: RunConfig,
    private readonly log: Logger,
    private readonly onStarted: () => void = () => undefined,
  ) {
    this.manager = new ComponentManager(log);
    this.dnsManager = new ComponentManager(log);
  }

  async run(): Promise<ExitCode> {
    const onSignal = (sig: NodeJS.Signals) => this.onSignal(sig);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      let started: boolean;
      try {
        this.starting = this.startAll();
        started = await this.starting;
      } catch (err) {
        await this.dnsManager.stop(2000);
        this.readiness?.destroy();
        throw err;
      }
      if (!started) return await (this.stopping ?? Promise.resolve(0));
      return await this.exit;
    } finally {
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGINT', onSignal);
      if (this.tempDir) fs.rmSync(this.tempDir, { recursive: true, force: true });
    }
  }

  /** Builds and starts everything; false when a signal arrived first. */
  private async startAll(): Promise<boolean> {
    const cfg = this.cfg;
    const workDir = this.prepareWorkDir();

    // Readiness first, so its port is known to the CP and probes get NOT READY (not
    // connection refused) while the bootstrap is retried; it stops last, so /ready says
    // TERMINATING until the very end.
    this.readiness = new ReadinessServer({
      address: cfg.readinessAddress,
      port: cfg.readinessPort,
      metrics: this.metrics,
      log: this.log,
      source: {
        isReady: () => this.engine?.isReady() ?? false,
        engineMetrics: () => this.engine?.metrics() ?? Promise.resolve(''),
      },
    });
    // Kept out of the manager (whose start() runs every component added so far).
    await this.readiness.start();

    // DNS before the bootstrap: it answers from the VIP cache of the work dir, so names
    // keep resolving while a restarted kuma-dp waits for a CP that is down.
    let dnsPort: number | undefined;
    if (cfg.dns.enabled && cfg.proxyType === 'dataplane') {
      const dns = new DnsServer({
        address: '127.0.0.1',
        port: cfg.dns.port,
        fastPath: cfg.dns.fastPath,
        upstreams: cfg.dns.upstreams ?? readResolvConf(this.log),
        metrics: this.metrics,
        log: this.log.child({ component: 'dns' }),
      });
      this.dnsManager.add(dns);
      this.dnsManager.add(
        new VipPoller({
          cpAddress: cfg.cpAddress,
          caCertPem: cfg.caCertPem,
          token: cfg.token,
          mesh: cfg.mesh!,
          name: cfg.name,
          intervalMs: cfg.dns.refreshIntervalMs,
          workDir,
          onTable: (t) => dns.setTable(t),
          metrics: this.metrics,
          log: this.log.child({ component: 'dns-vips' }),
        }),
      );
      await this.dnsManager.start();
      dnsPort = dns.port;
    } else if (cfg.dns.enabled) {
      this.log.info({ proxyType: cfg.proxyType }, 'DNS is not served for zone proxies');
    }

    const choice = await selectEngine({ engine: cfg.engine, binaryPath: cfg.binaryPath, log: this.log });
    const adminPort = cfg.adminPort || resourceAdminPort(cfg) || (await freePort());
    const request = buildBootstrapRequest({
      mesh: cfg.mesh,
      name: cfg.name,
      proxyType: cfg.proxyType,
      token: cfg.token,
      resourceText: cfg.resource?.text,
      adminPort,
      readinessPort: this.readiness.port,
      dnsPort,
      workDir,
      caCertPem: cfg.caCertPem,
      kumaDpVersion: kumaDpVersion(),
      envoyVersion: choice.kind === 'envoy' ? choice.version : { version: '', build: 'kuma-dp embedded engine' },
    });
    let bootstrap;
    try {
      bootstrap = await fetchBootstrap(request, {
        cpAddress: cfg.cpAddress,
        caCertPem: cfg.caCertPem,
        backoffMs: cfg.cpRetry.backoffMs,
        maxDurationMs: cfg.cpRetry.maxDurationMs,
        log: this.log,
        signal: this.abort.signal,
        onAttempt: (outcome) => this.metrics.inc(AgentMetric.bootstrapAttempts, { outcome }),
      });
    } catch (err) {
      if (this.abort.signal.aborted) return false;
      throw err;
    }
    const bootstrapPath = writeBootstrap(workDir, bootstrap.bootstrap);
    this.log.info({ path: bootstrapPath, adminPort: adminPortOf(bootstrap.bootstrap) }, 'received bootstrap configuration');

    const engine = createEngine(
      choice,
      {
        bootstrap: bootstrap.bootstrap,
        bootstrapPath,
        workDir,
        cpCaPem: cfg.caCertPem,
        dataplaneToken: cfg.token,
        drainTimeMs: cfg.drainTimeMs,
        logLevel: cfg.envoyLogLevel,
        concurrency: cfg.concurrency,
        extraArgs: cfg.extraArgs,
        log: this.log.child({ component: choice.kind }),
      },
      { restartPolicy: cfg.restartPolicy, stopTimeoutMs: cfg.shutdownTimeoutMs },
    );
    engine.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      const status = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1);
      this.log.error({ code, signal, exitCode: status }, 'proxy engine exited; stopping kuma-dp');
      void this.shutdown(status, false);
    });
    this.engine = engine;
    this.manager.add(engine);
    if (this.abort.signal.aborted) return false;
    await this.manager.start();
    this.log.info({ engine: engine.kind, readinessPort: this.readiness.port }, 'kuma-dp started');
    this.watchStartup(engine);
    if (this.abort.signal.aborted) void this.shutdown(0, true);
    return true;
  }

  /** Calls onStarted when the engine is first ready, or after START_SETTLE_MS. */
  private watchStartup(engine: ProxyEngine): void {
    const t0 = Date.now();
    const timer = setInterval(() => {
      const ready = engine.isReady();
      if (!ready && Date.now() - t0 < START_SETTLE_MS && !this.stopping) return;
      clearInterval(timer);
      if (!this.stopping) this.log.info({ ready, afterMs: Date.now() - t0 }, 'start-up over');
      this.onStarted();
    }, 50);
    timer.unref();
  }

  private prepareWorkDir(): string {
    if (this.cfg.workDir) {
      fs.mkdirSync(this.cfg.workDir, { recursive: true, mode: 0o700 });
      return path.resolve(this.cfg.workDir);
    }
    const tempDir = (this.tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-dp-')));
    // Also on a forced exit (second signal), which skips the normal cleanup.
    process.once('exit', () => fs.rmSync(tempDir, { recursive: true, force: true }));
    this.log.info({ dir: this.tempDir }, 'generated configuration will be stored in a temporary directory');
    return this.tempDir;
  }

  private onSignal(sig: NodeJS.Signals): void {
    this.signals++;
    if (this.signals > 1) {
      this.log.warn({ signal: sig }, 'second signal: forcing exit');
      this.engine?.destroy();
      this.readiness?.destroy();
      process.exit(128 + (os.constants.signals[sig] ?? 0));
    }
    this.log.info({ signal: sig }, 'caught a signal; draining');
    this.abort.abort(new Error(`caught ${sig}`));
    void this.shutdown(0, true);
  }

  /** Stops once: TERMINATING, drain (when the engine still runs), reverse stop. */
  private shutdown(code: ExitCode, drain: boolean): Promise<ExitCode> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.onStarted();
      this.readiness?.setTerminating();
      // A signal during startup: let startup settle (it sees the abort) before stopping.
      await this.starting?.catch(() => undefined);
      if (drain && this.engine) {
        this.log.info({ drainTimeMs: this.cfg.drainTimeMs }, 'draining proxy connections');
        await Promise.race([this.engine.drain().catch((err) => this.log.warn({ err }, 'drain failed')), sleep(this.cfg.drainTimeMs + 1000)]);
      }
      this.log.info('stopping all kuma-dp components');
      await this.manager.stop(this.cfg.shutdownTimeoutMs + 5000);
      await this.dnsManager.stop(5000);
      await this.readiness?.close();
      this.log.info({ exitCode: code }, 'kuma-dp stopped');
      this.resolveExit(code);
      return code;
    })();
    return this.stopping;
  }
}

/** `networking.admin.port` of a Dataplane / ZoneIngress template. */
function resourceAdminPort(cfg: RunConfig): number | undefined {
  const p = Number(cfg.resource?.json?.networking?.admin?.port);
  return Number.isInteger(p) && p > 0 && p < 65536 ? p : undefined;
}

function readResolvConf(log: Logger): { host: string; port: number }[] {
  try {
    const ups = parseResolvConf(fs.readFileSync('/etc/resolv.conf', 'utf8'));
    if (ups.length === 0) log.warn('no nameserver in /etc/resolv.conf; non-mesh names will get SERVFAIL');
    return ups;
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'cannot read /etc/resolv.conf; non-mesh names will get SERVFAIL');
    return [];
  }
}
