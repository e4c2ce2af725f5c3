/**
 * A whole multi-zone mesh on loopback, made of real processes started the way a user
 * starts them: a global kuma-cp, zone kuma-cps, kuma-dp sidecars and ingresses on the
 * embedded engine, and the demo apps. Used by `npm start` (scripts/demo.ts) and by the
 * end-to-end tests (test/e2e/mesh/). Every port is 0 or probed free, every file lives
 * in one temporary work dir, every process is tracked and stopped by its own pid
 * (`stopAll`, also from the SIGINT/SIGTERM/exit hooks of `installExitHooks`).
 *
 * With `network: 'netns'` (root only) the same mesh runs in network namespaces
 * (netns-topology.ts): global and the ingresses in a backbone namespace, each zone's CP in
 * the zone's namespace, each app with its sidecar in a namespace of its own (a workload,
 * like a pod: `startApp` makes it, `startSidecar` with the name `<service>-<instance>` joins
 * it). The harness then reaches CP APIs and kuma-dp admin and
 * readiness ports through port forwards (netns-bridge.ts), so `Cp.api`, `Dp.adminPort` and
 * `Dp.readinessPort` stay URLs and ports of 127.0.0.1 in the harness's own namespace.
 */
import { loopbackCpEnv } from './cp-env';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManagedProcess, type LogLine } from './managed-process';
import { httpRequest, type HttpResult } from './http-client';
import { freePort } from '../../lib/free-port';
import { eventually } from './wait';
import { NetnsTopology, removeStaleNamespaces, type Workload } from './netns-topology';
import { MeshClient } from './mesh-client';
import { NetnsAgentClient, NetnsMeshClient, PortForwards } from './netns-bridge';

/** Compiled entry points, relative to this file (dist/scripts/harness/). */
const DIST = path.resolve(__dirname, '../..');
export const BIN = {
  cp: path.join(DIST, 'cp/main.js'),
  dp: path.join(DIST, 'agent/main.js'),
  kumactl: path.join(DIST, 'kumactl/main.js'),
  app: path.join(DIST, 'scripts/demo/app.js'),
  netnsAgent: path.join(DIST, 'scripts/harness/netns-agent.js'),
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
  /** `loopback` (default): everything on 127.0.0.1. `netns`: network namespaces, root only (see the file comment). */
  network?: 'loopback' | 'netns';
  /** Zones that get a namespace in `netns` mode (default zone-1, zone-2). */
  zones?: string[];
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
  /** Its network namespace (netns mode); `api` is then a forward to 127.0.0.1:apiPort in there. */
  netns?: string;
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
  /** Its DNS server's port on 127.0.0.1 of its own namespace (UDP; not forwarded). */
  dnsPort?: number;
  configDir: string;
  /** The address its inbound or ingress listener binds (127.0.0.1 on loopback). */
  address: string;
  /** In netns mode: its namespace and the admin and readiness ports as seen in there (the fields above are forwards). */
  inNetns?: { netns: string; adminPort?: number; readinessPort?: number };
}

/** A running demo app. */
export interface App {
  service: string;
  zone: string;
  instance: string;
  proc: ManagedProcess;
  port: number;
  /** Its network namespace (netns mode). */
  netns?: string;
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
  /** The namespaces of netns mode (created by the first startGlobal). */
  netns?: NetnsTopology;
  private readonly agents = new Map<string, { client: NetnsAgentClient; proc: ManagedProcess }>();
  private readonly forwards = new PortForwards();
  /** One self-signed certificate for every CP of netns mode, valid for each address a peer dials. */
  private netnsTls?: { certFile: string; keyFile: string };

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

  private spawnNode(name: string, args: string[], env: Record<string, string>, netns?: string): ManagedProcess {
    // `ip netns exec` execs node, so the pid we track and signal is node's own.
    const [command, ...prefix] = netns ? [...this.requireNetns().exec(netns), process.execPath] : [process.execPath];
    return this.track(
      new ManagedProcess({
        name,
        command,
        args: [...prefix, ...args],
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
      ...loopbackCpEnv(workDir),
      KUMA_STORE_TYPE: this.o.storeType ?? 'sqlite',
      KUMA_DNS_SERVER_CIDR: this.vipCidr,
      ...(this.o.cpEnv ?? {}),
    };
  }

  /** Starts (or restarts) a CP process with env and fills in its ports from its log lines. */
  private async launchCp(cp: Omit<Cp, 'proc' | 'apiPort' | 'api'> & Partial<Cp>): Promise<Cp> {
    const proc = this.spawnNode(cp.name, [BIN.cp, 'run'], cp.env, cp.netns);
    await proc.start();
    let apiPort: number;
    try {
      apiPort = await proc.waitForPort('API server listening', this.startTimeout);
    } catch (err) {
      throw new MeshSetupError(`${cp.name} (kuma-cp, ${cp.mode}) did not start: ${(err as Error).message}`, tail(proc));
    }
    const out: Cp = { ...cp, proc, apiPort, api: `http://127.0.0.1:${await this.reach(cp.netns, apiPort)}` } as Cp;
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
    await this.startNetwork();
    const workDir = this.dir('global');
    const env = { ...this.cpEnv(workDir), KUMA_MODE: 'global' };
    if (this.netns) {
      // KDS binds the API interface: the zones dial it on the backbone's addresses.
      Object.assign(env, this.netnsCpEnv(), { KUMA_API_SERVER_HTTP_INTERFACE: '0.0.0.0' });
      this.global = await this.launchCp({ name: 'global', mode: 'global', workDir, env, netns: this.netns.backbone });
      const kds = [...this.netns.links.values()].map((l) => `grpcs://${l.backboneAddress}:${this.global!.kdsPort}`).join(', ');
      this.say(`global CP up in netns ${this.netns.backbone}: API ${this.global.api} (forward to its 127.0.0.1:${this.global.apiPort}), KDS ${kds}`);
      return this.global;
    }
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
    const link = this.netns?.link(zone);
    const env = {
      ...this.cpEnv(workDir),
      KUMA_MODE: 'zone',
      KUMA_MULTIZONE_ZONE_NAME: zone,
      KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS: `grpcs://${link?.backboneAddress ?? '127.0.0.1'}:${g.kdsPort}`,
      KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE: this.kdsCaFile(g),
      KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH: tokenFile,
      KUMA_DNS_SERVER_SERVICE_VIP_PORT: String(this.vipPort),
      ...(link ? this.netnsCpEnv() : {}),
    };
    const cp = await this.launchCp({ name: zone, mode: 'zone', zone, workDir, env, ...(link ? { netns: link.netns, dpCaFile: this.netnsTls!.certFile } : {}) });
    this.zones.set(zone, cp);
    if (link) {
      this.say(`${zone} CP up in netns ${link.netns}: API ${cp.api} (forward to its 127.0.0.1:${cp.apiPort}), DP server https://${link.bridgeAddress}:${cp.dpPort} (workloads) and https://${link.zoneAddress}:${cp.dpPort} (ingress), KDS to global at ${link.backboneAddress}`);
      return cp;
    }
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
    if (this.netnsTls) return this.netnsTls.certFile;
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
    const netns = this.netns ? (await this.workload(zone, `${service}-${instance}`)).netns : undefined;
    const proc = this.spawnNode(name, [BIN.app], { DEMO_SERVICE: service, DEMO_ZONE: zone, DEMO_INSTANCE: instance, DEMO_PORT: '0', ...(this.o.appEnv ?? {}) }, netns);
    await proc.start();
    const port = await proc.waitForPort('app listening', 10_000);
    const app: App = { service, zone, instance, proc, port, ...(netns ? { netns } : {}) };
    this.apps.set(`${service}/${zone}/${instance}`, app);
    return app;
  }

  private cpCaFile(cp: Cp): string {
    if (cp.dpCaFile && fs.existsSync(cp.dpCaFile)) return cp.dpCaFile;
    // cp/dp-server generates its own CA for the DP server certificate; older builds serve kuma-cp.crt.
    for (const f of [path.join(cp.workDir, 'dp-server-tls', 'ca.crt'), path.join(cp.workDir, 'kuma-cp.crt')]) if (fs.existsSync(f)) return f;
    throw new MeshSetupError(`${cp.name}: no CA for the DP server certificate in its work dir (dp-server-tls/ca.crt or kuma-cp.crt)`);
  }

  private async launchDp(o: { zone: string; name: string; proxyType: 'dataplane' | 'ingress'; resource: Record<string, any>; port: number; token: string; dns?: boolean; address: string }): Promise<Dp> {
    const cp = this.zoneCp(o.zone);
    const link = this.netns?.link(o.zone);
    // Netns mode: an ingress lives on the backbone and dials the zone's end of the veth; a
    // sidecar lives in its workload's namespace and dials the zone's bridge.
    let netns: string | undefined;
    let cpHost = '127.0.0.1';
    if (link && o.proxyType === 'ingress') [netns, cpHost] = [this.netns!.backbone, link.zoneAddress];
    else if (link) [netns, cpHost] = [(await this.workload(o.zone, o.name)).netns, link.bridgeAddress];
    if (!cp.dpPort) throw new MeshSetupError(`${o.zone} CP serves no DP server (no "DP server listening" line in its log): kuma-dp ${o.name} cannot bootstrap`, tail(cp.proc));
    const configDir = this.dir('dp', o.zone, o.name);
    const file = path.join(configDir, `${o.name}.json`);
    fs.writeFileSync(file, JSON.stringify(o.resource, null, 2));
    const tokenFile = path.join(configDir, 'token');
    fs.writeFileSync(tokenFile, o.token, { mode: 0o600 });
    const args = [
      BIN.dp, 'run',
      `--cp-address=https://${cpHost}:${cp.dpPort}`,
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
    const proc = this.spawnNode(`${o.zone} ${o.proxyType === 'ingress' ? 'ingress' : 'sidecar'} ${o.name}`, args, { HOME: configDir, KUMA_CONTROL_PLANE_RETRY_BACKOFF: '500ms' }, netns);
    await proc.start();
    const dp: Dp = { name: o.name, zone: o.zone, proxyType: o.proxyType, proc, port: o.port, configDir, address: o.address };
    try {
      await proc.waitFor((l) => l.msg === 'kuma-dp started', this.startTimeout, '"kuma-dp started"');
    } catch (err) {
      throw new MeshSetupError(`kuma-dp ${o.name} (${o.zone}) did not start: ${(err as Error).message}`, tail(proc));
    }
    dp.readinessPort = proc.log.find((l) => l.msg === 'readiness listening')?.port;
    dp.adminPort = proc.log.find((l) => l.msg === 'received bootstrap configuration')?.adminPort;
    dp.dnsPort = proc.log.find((l) => l.msg === 'DNS server listening')?.port;
    if (netns) {
      dp.inNetns = { netns, adminPort: dp.adminPort, readinessPort: dp.readinessPort };
      if (dp.adminPort) dp.adminPort = await this.reach(netns, dp.adminPort);
      if (dp.readinessPort) dp.readinessPort = await this.reach(netns, dp.readinessPort);
    }
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
    // Netns mode: on the backbone, at this zone's end of the veth, which every zone routes to.
    const address = this.netns?.link(zone).backboneAddress ?? '127.0.0.1';
    const resource = { type: 'ZoneIngress', name, networking: { address, port, advertisedAddress: address, advertisedPort: port } };
    const token = await this.dataplaneToken(zone, { name, type: 'ingress' });
    const dp = await this.launchDp({ zone, name, proxyType: 'ingress', resource, port, token, address });
    await this.waitReady(dp);
    this.say(`${zone} ingress up${dp.inNetns ? ` in netns ${dp.inNetns.netns}` : ''}: ${address}:${port} (SNI passthrough), admin ${dp.adminPort ?? '?'}`);
    return dp;
  }

  /** Starts a sidecar for an app and waits until it is ready. */
  async startSidecar(o: SidecarOptions): Promise<Dp> {
    const port = await freePort();
    const mesh = o.mesh ?? 'default';
    // Netns mode: the workload's own address, which the zone's ingress on the backbone reaches through the zone.
    const address = this.netns ? (await this.workload(o.zone, o.name)).address : '127.0.0.1';
    const resource = {
      type: 'Dataplane',
      mesh,
      name: o.name,
      networking: {
        address,
        inbound: [{ port, servicePort: o.appPort, serviceAddress: '127.0.0.1', tags: { 'kuma.io/service': o.service, 'kuma.io/protocol': 'http', ...(o.tags ?? {}) }, ...(o.extraInbound ?? {}) }],
        ...(o.outbound?.length ? { outbound: o.outbound.map((x) => ({ address: '127.0.0.1', port: x.port, tags: { 'kuma.io/service': x.service } })) } : {}),
      },
    };
    const token = await this.dataplaneToken(o.zone, { name: o.name, mesh });
    const dp = await this.launchDp({ zone: o.zone, name: o.name, proxyType: 'dataplane', resource, port, token, dns: o.dns, address });
    await this.waitReady(dp);
    this.say(`${o.zone} sidecar ${o.name} up${dp.inNetns ? ` in netns ${dp.inNetns.netns}` : ''}: inbound ${address}:${port} -> app :${o.appPort}, admin ${dp.adminPort ?? '?'}${dp.dnsPort ? `, DNS 127.0.0.1:${dp.dnsPort}` : ''}`);
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
    await this.stopNetwork();
    for (const r of this.removeHooks.splice(0)) r();
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  /** Last resort on process exit: SIGKILL whatever still runs (synchronous). */
  killAllSync(): void {
    for (const p of [...this.procs, ...[...this.agents.values()].map((a) => a.proc)]) {
      if (p.running && p.pid) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    // Namespaces go once their (SIGKILLed) processes are gone; `ip netns del` drops our handle now.
    this.netns?.destroy();
    try {
      fs.rmSync(this.workDir, { recursive: true, force: true });
    } catch {
      /* best effort at exit */
    }
  }

  /** Pids of processes that still run (for the "nothing left running" check). */
  runningPids(): number[] {
    return [...this.procs, ...[...this.agents.values()].map((a) => a.proc)].filter((p) => p.running && p.pid).map((p) => p.pid!);
  }

  // ---------------------------------------------------------------- network namespaces

  private requireNetns(): NetnsTopology {
    if (!this.netns) throw new MeshSetupError('netns mode is not set up (start the global CP first)');
    return this.netns;
  }

  /**
   * Netns mode only (a no-op on loopback): removes namespaces of dead earlier runs, builds
   * this run's, writes the CP certificate and starts one agent per namespace.
   */
  private async startNetwork(): Promise<void> {
    if (this.o.network !== 'netns' || this.netns) return;
    const topo = new NetnsTopology(this.o.zones ?? ['zone-1', 'zone-2']);
    for (const stale of removeStaleNamespaces(topo.ip)) this.say(`removed netns ${stale}, left by a run that was killed`);
    topo.create();
    this.netns = topo;
    const links = [...topo.links.values()];
    this.say(
      `network namespaces: ${topo.backbone} (global, ingresses; ${links.map((l) => `${l.backboneAddress} on ${l.backboneIf}`).join(', ')}; no forwarding), ` +
        `${links.map((l) => `${l.netns} (${l.zone} CP: ${l.zoneAddress} on ${l.zoneIf}, bridge ${l.bridgeAddress} for its workloads in ${l.workloadCidr})`).join(', ')}, one per workload`,
    );
    this.netnsTls = writeCpCertificate(this.dir('netns-tls'), ['127.0.0.1', ...links.flatMap((l) => [l.backboneAddress, l.zoneAddress, l.bridgeAddress])]);
    await Promise.all(topo.namespaces.map((ns) => this.startAgent(ns)));
  }

  /** Starts the agent of a namespace (the harness's hand in there; see netns-agent.ts). */
  private async startAgent(ns: string): Promise<void> {
    const topo = this.requireNetns();
    const socketPath = path.join(this.dir('netns'), `${ns.replace(/^.*-/, '')}.sock`);
    const proc = new ManagedProcess({
      name: `netns agent ${ns}`,
      command: topo.ip,
      args: ['netns', 'exec', ns, process.execPath, BIN.netnsAgent, socketPath],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    this.agents.set(ns, { client: new NetnsAgentClient(ns, socketPath), proc });
    await proc.start();
    await proc.waitFor((l) => l.msg === 'netns agent listening', 10_000, '"netns agent listening"').catch((err: Error) => {
      throw new MeshSetupError(`netns agent of ${ns} did not start: ${err.message}`, tail(proc));
    });
  }

  private readonly workloadsReady = new Map<string, Promise<Workload>>();

  /** The namespace of a workload (app + sidecar) of a zone, made with its agent on first use. */
  private workload(zone: string, name: string): Promise<Workload> {
    const key = `${zone}/${name}`;
    let w = this.workloadsReady.get(key);
    if (!w) {
      w = (async () => {
        const made = this.requireNetns().addWorkload(zone, name);
        await this.startAgent(made.netns);
        return made;
      })();
      this.workloadsReady.set(key, w);
    }
    return w;
  }

  private async stopNetwork(): Promise<void> {
    await this.forwards.closeAll();
    await Promise.all([...this.agents.values()].map((a) => a.proc.stop(2000).catch(() => undefined)));
    const problems = this.netns?.destroy() ?? [];
    for (const p of problems) this.say(`WARNING: ${p}`);
  }

  private netnsCpEnv(): Record<string, string> {
    return { KUMA_GENERAL_TLS_CERT_FILE: this.netnsTls!.certFile, KUMA_GENERAL_TLS_KEY_FILE: this.netnsTls!.keyFile };
  }

  /** A port of the harness's 127.0.0.1 that reaches 127.0.0.1:port of `netns` (the port itself on loopback). */
  private async reach(netns: string | undefined, port: number): Promise<number> {
    if (!netns) return port;
    return this.forwards.forward(this.agent(netns), '127.0.0.1', port);
  }

  /** The agent of a namespace (netns mode). */
  agent(netns: string): NetnsAgentClient {
    const a = this.agents.get(netns);
    if (!a) throw new MeshSetupError(`no netns agent for ${netns}`);
    return a.client;
  }

  /** The client of an app behind `dp` (DNS-enabled): in netns mode its queries and calls start in dp's namespace. */
  clientFor(dp: Dp): MeshClient {
    if (!dp.dnsPort) throw new MeshSetupError(`${dp.name} serves no DNS (start it with dns: true)`);
    return dp.inNetns ? new NetnsMeshClient(this.agent(dp.inNetns.netns), dp.dnsPort, this.vipPort) : new MeshClient(dp.dnsPort, this.vipPort);
  }
}

/** A self-signed certificate (its own CA) valid for `ips` and localhost, for every CP of netns mode. */
function writeCpCertificate(dir: string, ips: string[]): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, 'cp.crt');
  const keyFile = path.join(dir, 'cp.key');
  const san = ['DNS:localhost', ...ips.map((ip) => `IP:${ip}`)].join(',');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=kuma-demo-cp', '-addext', `subjectAltName=${san}`, '-keyout', keyFile, '-out', certFile], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  } catch (err) {
    throw new MeshSetupError(`openssl could not make the CP certificate for netns mode: ${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()}`);
  }
  fs.chmodSync(keyFile, 0o600);
  return { certFile, keyFile };
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
