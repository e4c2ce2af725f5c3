/**
 * A whole multi-zone mesh on loopback, made of real processes started the way a user
 * starts them: a global kuma-cp, zone kuma-cps, kuma-dp sidecars and ingresses on the
 * embedded engine, and the demo apps. Used by `npm start` (scripts/demo.ts) and by the
 * end-to-end tests (test/e2e/mesh/). Every port is 0 or probed free, every file lives
 * in one temporary work dir, every process is tracked and stopped by its own pid
 * (`stopAll`, also from the SIGINT/SIGTERM/exit hooks of `installExitHooks`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManagedProcess, type LogLine } from './managed-process';
import { httpRequest, type HttpResult } from './http-client';
import { freePort } from './free-port';
import { eventually } from './wait';

/** Compiled entry points, relative to this file (dist/scripts/harness/). */
const DIST = path.resolve(__dirname, '../..');
export const BIN = {
  cp: path.join(DIST, 'cp/main.js'),
  dp: path.join(DIST, 'agent/main.js'),
  kumactl: path.join(DIST, 'kumactl/main.js'),
  app: path.join(DIST, 'scripts/demo/app.js'),
} as const;

/** Options of a mesh. */
export interface MeshOptions {
  /** Prefix of the temporary work dir. */
  prefix?: string;
  /** VIP range of every zone CP (KUMA_DNS_SERVER_CIDR); loopback so that no root is needed. */
  vipCidr?: string;
  /** Port of VIP listeners (KUMA_DNS_SERVER_SERVICE_VIP_PORT); above 1024 so that no root is needed. */
  vipPort?: number;
  /** Store of the CPs (default sqlite: global and zone restarts keep their state). */
  storeType?: 'sqlite' | 'memory';
  /** Progress and diagnostics go here (default: nowhere). */
  say?: (line: string) => void;
  /** Called for every log line of every process. */
  onLine?: (proc: string, line: LogLine) => void;
  /** Extra environment for every demo app (e.g. DEMO_KEEPALIVE_MS). */
  appEnv?: Record<string, string>;
  /** Extra environment for every kuma-cp. */
  cpEnv?: Record<string, string>;
  /** How long to wait for a process to come up (default 30 s). */
  startTimeoutMs?: number;
}

/** A running (or stopped) kuma-cp. */
export interface Cp {
  name: string;
  mode: 'global' | 'zone';
  zone?: string;
  proc: ManagedProcess;
  workDir: string;
  env: Record<string, string>;
  apiPort: number;
  api: string;
  kdsPort?: number;
  dpPort?: number;
  /** CA of the DP server certificate (from the "DP server listening" line). */
  dpCaFile?: string;
}

/** A running kuma-dp (sidecar or ingress). */
export interface Dp {
  name: string;
  zone: string;
  proxyType: 'dataplane' | 'ingress';
  proc: ManagedProcess;
  /** The port of its inbound listener (sidecar) or of the ingress listener. */
  port: number;
  readinessPort?: number;
  adminPort?: number;
  dnsPort?: number;
  configDir: string;
}

/** A running demo app. */
export interface App {
  service: string;
  zone: string;
  instance: string;
  proc: ManagedProcess;
  port: number;
}

/** Options of a sidecar. */
export interface SidecarOptions {
  zone: string;
  /** Dataplane name, e.g. `users-1`. */
  name: string;
  service: string;
  /** The app's port (the inbound's servicePort). */
  appPort: number;
  /** Extra inbound tags (e.g. `version`). */
  tags?: Record<string, string>;
  /** Serve DNS and bind the VIP listeners (one sidecar per host). */
  dns?: boolean;
  mesh?: string;
  /** Extra fields of the inbound (e.g. `health: {ready: false}`). */
  extraInbound?: Record<string, unknown>;
  /** Explicit outbounds on 127.0.0.1:port (for sidecars without DNS/VIPs). */
  outbound?: { port: number; service: string }[];
}

/** Thrown when a piece of the mesh is not there (so the demo can name what is missing). */
export class MeshSetupError extends Error {
  constructor(message: string, readonly detail?: string) {
    super(message);
    this.name = 'MeshSetupError';
  }
}

/** The last lines of a process, for error messages. */
export function tail(proc: ManagedProcess, n = 8): string {
  return proc.log
    .slice(-n)
    .map((l) => (typeof l.msg === 'string' && Object.keys(l).length === 1 ? l.msg : JSON.stringify(l)))
    .join('\n    ');
}

/** A loopback mesh of real processes; see the file comment. */
export class MeshHarness {
  readonly workDir: string;
  readonly vipCidr: string;
  vipPort = 0;
  global?: Cp;
  readonly zones = new Map<string, Cp>();
  readonly dps = new Map<string, Dp>();
  readonly apps = new Map<string, App>();
  private readonly procs = new Set<ManagedProcess>();
  private readonly removeHooks: (() => void)[] = [];
  private stopping?: Promise<void>;

  constructor(private readonly o: MeshOptions = {}) {
    this.workDir = fs.mkdtempSync(path.join(os.tmpdir(), o.prefix ?? 'kuma-mesh-'));
    this.vipCidr = o.vipCidr ?? '127.64.0.0/10';
    if (o.vipPort) this.vipPort = o.vipPort;
  }

  private say(line: string): void {
    this.o.say?.(line);
  }

  private get startTimeout(): number {
    return this.o.startTimeoutMs ?? 30_000;
  }

  /**
   * Stops everything on SIGINT/SIGTERM (then exits 130, unless `handler` is given and
   * returns true: it took over) and kills what is left when the process exits.
   */
  installExitHooks(handler?: (sig: NodeJS.Signals) => boolean): void {
    const onSignal = (sig: NodeJS.Signals) => {
      if (handler?.(sig)) return;
      this.say(`caught ${sig}: stopping every process of the mesh`);
      void this.stopAll().finally(() => process.exit(130));
    };
    const onExit = () => this.killAllSync();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.once('exit', onExit);
    this.removeHooks.push(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('exit', onExit);
    });
  }

  private track(proc: ManagedProcess): ManagedProcess {
    this.procs.add(proc);
    return proc;
  }

  private spawnNode(name: string, args: string[], env: Record<string, string>): ManagedProcess {
    return this.track(
      new ManagedProcess({
        name,
        command: process.execPath,
        args,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
        onLine: this.o.onLine ? (l) => this.o.onLine!(name, l) : undefined,
      }),
    );
  }

  private dir(...parts: string[]): string {
    const d = path.join(this.workDir, ...parts);
    fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    return d;
  }

  // ---------------------------------------------------------------- control planes

  private cpEnv(workDir: string): Record<string, string> {
    return {
      HOME: workDir,
      KUMA_GENERAL_WORK_DIR: workDir,
      KUMA_STORE_TYPE: this.o.storeType ?? 'sqlite',
      KUMA_API_SERVER_HTTP_PORT: '0',
      KUMA_API_SERVER_HTTP_INTERFACE: '127.0.0.1',
      KUMA_DP_SERVER_PORT: '0',
      KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT: '0',
      KUMA_DNS_SERVER_PORT: '0',
      KUMA_DIAGNOSTICS_SERVER_PORT: '0',
      KUMA_DNS_SERVER_CIDR: this.vipCidr,
      ...(this.o.cpEnv ?? {}),
    };
  }

  /** Starts (or restarts) a CP process with env and fills in its ports from its log lines. */
  private async launchCp(cp: Omit<Cp, 'proc' | 'apiPort' | 'api'> & Partial<Cp>): Promise<Cp> {
    const proc = this.spawnNode(cp.name, [BIN.cp, 'run'], cp.env);
    await proc.start();
    let apiPort: number;
    try {
      apiPort = await proc.waitForPort('API server listening', this.startTimeout);
    } catch (err) {
      throw new MeshSetupError(`${cp.name} (kuma-cp, ${cp.mode}) did not start: ${(err as Error).message}`, tail(proc));
    }
    const out: Cp = { ...cp, proc, apiPort, api: `http://127.0.0.1:${apiPort}` } as Cp;
    if (cp.mode === 'global') out.kdsPort = await proc.waitForPort('KDS server listening', 5000);
    if (cp.mode === 'zone') {
      // The API server starts last, so the DP server's line, when there is one, is already there.
      const dp = proc.log.find((l) => typeof l.port === 'number' && /^(dp|xds)[ -]server.*listening/i.test(String(l.msg ?? '')) && !/plaintext/i.test(String(l.msg)));
      out.dpPort = dp?.port;
      if (typeof dp?.caFile === 'string') out.dpCaFile = dp.caFile;
    }
    return out;
  }

  /** Starts the global CP. */
  async startGlobal(): Promise<Cp> {
    const workDir = this.dir('global');
    const env = { ...this.cpEnv(workDir), KUMA_MODE: 'global' };
    this.global = await this.launchCp({ name: 'global', mode: 'global', workDir, env });
    this.say(`global CP up: API ${this.global.api}, KDS grpcs://127.0.0.1:${this.global.kdsPort}`);
    return this.global;
  }

  /** Asks global for a zone token (`POST /tokens/zone`). */
  async zoneToken(zone: string, scope: string[] = ['cp', 'ingress']): Promise<string> {
    const g = this.requireGlobal();
    const r = await httpRequest(`${g.api}/tokens/zone`, { method: 'POST', body: { zone, scope } });
    const token = tokenOf(r);
    if (!token) throw new MeshSetupError(`global did not issue a zone token for ${zone}: POST /tokens/zone answered HTTP ${r.status} ${brief(r.text)}`);
    return token;
  }

  /** Starts a zone CP connected to global. */
  async startZone(zone: string): Promise<Cp> {
    const g = this.requireGlobal();
    if (!this.vipPort) this.vipPort = await freePort();
    const workDir = this.dir(zone);
    const tokenFile = path.join(workDir, 'zone-token');
    fs.writeFileSync(tokenFile, await this.zoneToken(zone), { mode: 0o600 });
    const env = {
      ...this.cpEnv(workDir),
      KUMA_MODE: 'zone',
      KUMA_MULTIZONE_ZONE_NAME: zone,
      KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS: `grpcs://127.0.0.1:${g.kdsPort}`,
      KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE: this.kdsCaFile(g),
      KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH: tokenFile,
      KUMA_DNS_SERVER_SERVICE_VIP_PORT: String(this.vipPort),
    };
    const cp = await this.launchCp({ name: zone, mode: 'zone', zone, workDir, env });
    this.zones.set(zone, cp);
    this.say(`${zone} CP up: API ${cp.api}${cp.dpPort ? `, DP server https://127.0.0.1:${cp.dpPort}` : ' (no DP server line in its log)'}`);
    return cp;
  }

  /** Waits until global lists the zone as online (`GET /zones+insights`). */
  async waitZoneOnline(zone: string, online = true, timeoutMs = 30_000): Promise<void> {
    const g = this.requireGlobal();
    await eventually(
      `global to report ${zone} ${online ? 'online' : 'offline'}`,
      async () => {
        const r = await httpRequest(`${g.api}/zones+insights`);
        const item = (r.json?.items ?? []).find((i: any) => i.name === zone);
        return item && !!item.online === online;
      },
      timeoutMs,
      250,
    );
  }

  /** SIGTERMs a CP (global or a zone); it can be restarted with `restartCp`. */
  async stopCp(cp: Cp): Promise<void> {
    await cp.proc.stop(5000);
  }

  /** SIGKILLs a CP (a crash). */
  async killCp(cp: Cp): Promise<void> {
    await cp.proc.kill();
  }

  /** Restarts a stopped CP on the same ports and work dir (its store survives: sqlite). */
  async restartCp(cp: Cp): Promise<Cp> {
    if (cp.proc.running) await cp.proc.stop(5000);
    this.procs.delete(cp.proc);
    const env: Record<string, string> = { ...cp.env, KUMA_API_SERVER_HTTP_PORT: String(cp.apiPort) };
    if (cp.kdsPort) env.KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT = String(cp.kdsPort);
    if (cp.dpPort) env.KUMA_DP_SERVER_PORT = String(cp.dpPort);
    const again = await this.launchCp({ ...cp, env });
    Object.assign(cp, again);
    return cp;
  }

  /** The CA that signs global's KDS certificate (the CP certificate generated in its work dir). */
  private kdsCaFile(g: Cp): string {
    for (const f of [path.join(g.workDir, 'dp-server-tls', 'ca.crt'), path.join(g.workDir, 'kuma-cp.crt')]) if (fs.existsSync(f)) return f;
    throw new MeshSetupError(`global: no CA for its KDS certificate in its work dir (dp-server-tls/ca.crt or kuma-cp.crt)`);
  }

  private requireGlobal(): Cp {
    if (!this.global) throw new MeshSetupError('start the global CP first');
    return this.global;
  }

  /** The zone CP of a zone. */
  zoneCp(zone: string): Cp {
    const cp = this.zones.get(zone);
    if (!cp) throw new MeshSetupError(`zone ${zone} is not started`);
    return cp;
  }

  // ---------------------------------------------------------------- REST

  /** A REST call on a CP; `body` as JSON. */
  api(cp: Cp, method: string, p: string, body?: unknown): Promise<HttpResult> {
    return httpRequest(`${cp.api}${p}`, { method, body });
  }

  /** PUTs a resource (Kuma JSON form with type/name/mesh) on a CP; throws on a refusal. */
  async apply(cp: Cp, resource: Record<string, any>): Promise<void> {
    const p = resourcePath(resource);
    const r = await this.api(cp, 'PUT', p, resource);
    if (r.status !== 200 && r.status !== 201) throw new MeshSetupError(`PUT ${p} on ${cp.name}: HTTP ${r.status} ${brief(r.text)}`);
  }

  /** Waits until a resource applied on global is visible (with the same spec) in every zone. */
  async waitSynced(resource: Record<string, any>, zones = [...this.zones.values()], timeoutMs = 15_000): Promise<void> {
    const p = resourcePath(resource);
    for (const z of zones) {
      await eventually(
        `${p} in ${z.name}`,
        async () => {
          const r = await this.api(z, 'GET', p);
          if (r.status !== 200) return false;
          return JSON.stringify(specOf(r.json)) === JSON.stringify(specOf(resource));
        },
        timeoutMs,
      );
    }
  }

  // ---------------------------------------------------------------- tokens

  /** A dataplane (or ingress) token, from the zone CP (Kuma's place for them), else from global. */
  async dataplaneToken(zone: string, body: { name: string; mesh?: string; type?: 'dataplane' | 'ingress'; tags?: Record<string, string[]> }): Promise<string> {
    const req = { mesh: body.mesh ?? 'default', type: body.type ?? 'dataplane', name: body.name, ...(body.tags ? { tags: body.tags } : {}) };
    const tried: string[] = [];
    for (const cp of [this.zoneCp(zone), this.global].filter((x): x is Cp => !!x)) {
      const r = await httpRequest(`${cp.api}/tokens/dataplane`, { method: 'POST', body: req });
      const token = tokenOf(r);
      if (token) return token;
      tried.push(`${cp.name}: HTTP ${r.status} ${brief(r.text)}`);
    }
    throw new MeshSetupError(`no ${req.type} token for ${body.name}: POST /tokens/dataplane answered ${tried.join('; ')}`);
  }

  // ---------------------------------------------------------------- processes of the data plane

  /** Starts a demo app (scripts/demo/app.ts) on a free port of 127.0.0.1. */
  async startApp(service: string, zone: string, instance: string): Promise<App> {
    const name = `app ${service}/${zone}/${instance}`;
    const proc = this.spawnNode(name, [BIN.app], { DEMO_SERVICE: service, DEMO_ZONE: zone, DEMO_INSTANCE: instance, DEMO_PORT: '0', ...(this.o.appEnv ?? {}) });
    await proc.start();
    const port = await proc.waitForPort('app listening', 10_000);
    const app: App = { service, zone, instance, proc, port };
    this.apps.set(`${service}/${zone}/${instance}`, app);
    return app;
  }

  private cpCaFile(cp: Cp): string {
    if (cp.dpCaFile && fs.existsSync(cp.dpCaFile)) return cp.dpCaFile;
    // cp/dp-server generates its own CA for the DP server certificate; older builds serve kuma-cp.crt.
    for (const f of [path.join(cp.workDir, 'dp-server-tls', 'ca.crt'), path.join(cp.workDir, 'kuma-cp.crt')]) if (fs.existsSync(f)) return f;
    throw new MeshSetupError(`${cp.name}: no CA for the DP server certificate in its work dir (dp-server-tls/ca.crt or kuma-cp.crt)`);
  }

  private async launchDp(o: { zone: string; name: string; proxyType: 'dataplane' | 'ingress'; resource: Record<string, any>; port: number; token: string; dns?: boolean }): Promise<Dp> {
    const cp = this.zoneCp(o.zone);
    if (!cp.dpPort) throw new MeshSetupError(`${o.zone} CP serves no DP server (no "DP server listening" line in its log): kuma-dp ${o.name} cannot bootstrap`, tail(cp.proc));
    const configDir = this.dir('dp', o.zone, o.name);
    const file = path.join(configDir, `${o.name}.json`);
    fs.writeFileSync(file, JSON.stringify(o.resource, null, 2));
    const tokenFile = path.join(configDir, 'token');
    fs.writeFileSync(tokenFile, o.token, { mode: 0o600 });
    const args = [
      BIN.dp, 'run',
      `--cp-address=https://127.0.0.1:${cp.dpPort}`,
      `--ca-cert-file=${this.cpCaFile(cp)}`,
      `--dataplane-file=${file}`,
      `--dataplane-token-file=${tokenFile}`,
      `--proxy-type=${o.proxyType}`,
      '--engine=embedded',
      `--config-dir=${configDir}`,
      '--readiness-port=0',
      '--drain-time=1s',
      '--shutdown-timeout=3s',
      '--dns-refresh-interval=1s',
    ];
    // A real port, not 0: kuma-dp reports it in the bootstrap request, and that is how the CP
    // knows this sidecar serves DNS and must get the VIP listeners.
    if (o.dns) args.push('--dns-enabled', `--dns-proxy-port=${await freePort()}`);
    const proc = this.spawnNode(`${o.zone} ${o.proxyType === 'ingress' ? 'ingress' : 'sidecar'} ${o.name}`, args, { HOME: configDir, KUMA_CONTROL_PLANE_RETRY_BACKOFF: '500ms' });
    await proc.start();
    const dp: Dp = { name: o.name, zone: o.zone, proxyType: o.proxyType, proc, port: o.port, configDir };
    try {
      await proc.waitFor((l) => l.msg === 'kuma-dp started', this.startTimeout, '"kuma-dp started"');
    } catch (err) {
      throw new MeshSetupError(`kuma-dp ${o.name} (${o.zone}) did not start: ${(err as Error).message}`, tail(proc));
    }
    dp.readinessPort = proc.log.find((l) => l.msg === 'readiness listening')?.port;
    dp.adminPort = proc.log.find((l) => l.msg === 'received bootstrap configuration')?.adminPort;
    dp.dnsPort = proc.log.find((l) => l.msg === 'DNS server listening')?.port;
    this.dps.set(o.name, dp);
    return dp;
  }

  /** Waits until kuma-dp's `/ready` answers 200 (the engine applied its first config). */
  async waitReady(dp: Dp, timeoutMs = 20_000): Promise<void> {
    if (!dp.readinessPort) throw new MeshSetupError(`kuma-dp ${dp.name} logged no readiness port`);
    await eventually(`kuma-dp ${dp.name} ready`, async () => (await httpRequest(`http://127.0.0.1:${dp.readinessPort}/ready`, { timeoutMs: 2000 })).status === 200, timeoutMs).catch((err) => {
      throw new MeshSetupError((err as Error).message, tail(dp.proc));
    });
  }

  /** Starts the zone's ingress (kuma-dp --proxy-type=ingress) and waits until it is ready. */
  async startIngress(zone: string): Promise<Dp> {
    const name = `ingress-${zone}`;
    const port = await freePort();
    const resource = { type: 'ZoneIngress', name, networking: { address: '127.0.0.1', port, advertisedAddress: '127.0.0.1', advertisedPort: port } };
    const token = await this.dataplaneToken(zone, { name, type: 'ingress' });
    const dp = await this.launchDp({ zone, name, proxyType: 'ingress', resource, port, token });
    await this.waitReady(dp);
    this.say(`${zone} ingress up: 127.0.0.1:${port} (SNI passthrough), admin ${dp.adminPort ?? '?'}`);
    return dp;
  }

  /** Starts a sidecar for an app and waits until it is ready. */
  async startSidecar(o: SidecarOptions): Promise<Dp> {
    const port = await freePort();
    const mesh = o.mesh ?? 'default';
    const resource = {
      type: 'Dataplane',
      mesh,
      name: o.name,
      networking: {
        address: '127.0.0.1',
        inbound: [{ port, servicePort: o.appPort, serviceAddress: '127.0.0.1', tags: { 'kuma.io/service': o.service, 'kuma.io/protocol': 'http', ...(o.tags ?? {}) }, ...(o.extraInbound ?? {}) }],
        ...(o.outbound?.length ? { outbound: o.outbound.map((x) => ({ address: '127.0.0.1', port: x.port, tags: { 'kuma.io/service': x.service } })) } : {}),
      },
    };
    const token = await this.dataplaneToken(o.zone, { name: o.name, mesh });
    const dp = await this.launchDp({ zone: o.zone, name: o.name, proxyType: 'dataplane', resource, port, token, dns: o.dns });
    await this.waitReady(dp);
    this.say(`${o.zone} sidecar ${o.name} up: inbound 127.0.0.1:${port} -> app :${o.appPort}, admin ${dp.adminPort ?? '?'}${dp.dnsPort ? `, DNS 127.0.0.1:${dp.dnsPort}` : ''}`);
    return dp;
  }

  /** Stops one process of the mesh by its pid (SIGTERM, then SIGKILL). */
  async stopProcess(proc: ManagedProcess, graceMs = 5000): Promise<void> {
    await proc.stop(graceMs);
  }

  /** SIGKILLs one process of the mesh by its pid (a crash). */
  async killProcess(proc: ManagedProcess): Promise<void> {
    await proc.kill();
  }

  // ---------------------------------------------------------------- teardown

  /** Stops every process (data plane first, then zones, then global) and removes the work dir. */
  stopAll(): Promise<void> {
    // A second caller (a signal during a failing set-up) waits for the same stop.
    this.stopping ??= this.doStopAll();
    return this.stopping;
  }

  private async doStopAll(): Promise<void> {
    const order = [...this.procs].reverse();
    // Sidecars and apps in parallel, then CPs, so that nothing waits on a vanished CP.
    const cps = new Set([this.global?.proc, ...[...this.zones.values()].map((z) => z.proc)]);
    await Promise.all(order.filter((p) => !cps.has(p)).map((p) => p.stop(4000).catch(() => undefined)));
    await Promise.all(order.filter((p) => cps.has(p)).map((p) => p.stop(6000).catch(() => undefined)));
    for (const r of this.removeHooks.splice(0)) r();
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  /** Last resort on process exit: SIGKILL whatever still runs (synchronous). */
  killAllSync(): void {
    for (const p of this.procs) {
      if (p.running && p.pid) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    try {
      fs.rmSync(this.workDir, { recursive: true, force: true });
    } catch {
      /* best effort at exit */
    }
  }

  /** Pids of processes that still run (for the "nothing left running" check). */
  runningPids(): number[] {
    return [...this.procs].filter((p) => p.running && p.pid).map((p) => p.pid!);
  }
}

/** The REST path of a resource in Kuma JSON form. */
export function resourcePath(r: Record<string, any>): string {
  const plural: Record<string, string> = {
    Mesh: 'meshes',
    TrafficRoute: 'traffic-routes',
    TrafficPermission: 'traffic-permissions',
    Dataplane: 'dataplanes',
    ZoneIngress: 'zoneingresses',
    Zone: 'zones',
  };
  const p = plural[r.type];
  if (!p) throw new MeshSetupError(`no REST path known for resource type ${r.type}`);
  if (r.type === 'Mesh') return `/meshes/${r.name}`;
  if (r.type === 'ZoneIngress' || r.type === 'Zone') return `/${p}/${r.name}`;
  return `/meshes/${r.mesh ?? 'default'}/${p}/${r.name}`;
}

function specOf(r: Record<string, any>): Record<string, any> {
  const { type: _t, name: _n, mesh: _m, labels: _l, creationTime: _c, modificationTime: _mt, ...spec } = r ?? {};
  return spec;
}

function tokenOf(r: HttpResult): string | undefined {
  if (r.status !== 200 && r.status !== 201) return undefined;
  const t = typeof r.json === 'string' ? r.json : r.json?.token ?? (r.json === undefined ? r.text : undefined);
  return typeof t === 'string' && t.trim() ? t.trim() : undefined;
}

/** A response body on one short line, for error messages. */
export function brief(text: string, max = 200): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}...` : one;
}
