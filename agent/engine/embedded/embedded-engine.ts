/**
 * kuma-dp's embedded proxy: the same bootstrap and the same xDS as Envoy, carried
 * out in Node for the subset our CP emits. Startup follows linkerd's three phases:
 * parse the bootstrap (nothing bound), build the parts, run (admin, then ADS). Each
 * xDS update is validated as a whole before anything changes; a bad one is NACKed
 * and the last good config stays in force.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { Logger } from '../../../lib/logger';
import { toStruct, TypeUrl } from '../../../proto/index';
import type { EngineOptions, ProxyEngine } from '../engine';
import { createAdminServer } from './admin/admin-server';
import { Stats } from './admin/stats';
import { ClusterManager } from './clusters/cluster-manager';
import { parseBootstrap, type BootstrapInfo } from './config/bootstrap';
import { emptyConfig, type ConfigModel } from './config/model';
import { referencedNames, validate, type RawResources } from './config/validate';
import { ListenerManager } from './listeners/listener-manager';
import { SecretStore } from './tls/secret-store';
import { AdsClient } from './xds-client/ads-client';
import { EMBEDDED_CLIENT_FEATURES, EMBEDDED_USER_AGENT } from '../../../lib/client-features';

const KEY_OF: Record<string, keyof RawResources> = {
  [TypeUrl.Listener]: 'listeners',
  [TypeUrl.Cluster]: 'clusters',
  [TypeUrl.ClusterLoadAssignment]: 'assignments',
  [TypeUrl.RouteConfiguration]: 'routes',
  [TypeUrl.Secret]: 'secrets',
};

/** The embedded engine (see agent/engine/engine.ts for the contract). */
export class EmbeddedEngine extends EventEmitter implements ProxyEngine {
  readonly kind = 'embedded' as const;
  readonly name = 'embedded-engine';
  private readonly log: Logger;
  private readonly boot: BootstrapInfo;
  private readonly stats = new Stats();
  private readonly secrets = new SecretStore();
  private readonly clusters: ClusterManager;
  private readonly listenerMgr: ListenerManager;
  private raw: RawResources = { listeners: new Map(), clusters: new Map(), assignments: new Map(), routes: new Map(), secrets: new Map() };
  private config: ConfigModel = emptyConfig();
  private readonly accepted = new Set<string>();
  private readonly versions = new Map<string, string>();
  private ready = false;
  private draining = false;
  private ads?: AdsClient;
  private admin?: http.Server;

  constructor(opts: EngineOptions) {
    super();
    this.boot = parseBootstrap(opts.bootstrap, { caPem: opts.cpCaPem, token: opts.dataplaneToken });
    this.log = opts.log.child({ engine: 'embedded', dataplane: this.boot.node.id });
    this.clusters = new ClusterManager(this.stats, this.secrets, this.log);
    this.listenerMgr = new ListenerManager(
      this.stats,
      { clusters: this.clusters, secrets: this.secrets, route: (n) => this.config.routes.get(n), log: this.log },
      () => opts.drainTimeMs,
      this.log,
      { max: this.boot.maxDownstreamConnections ?? Number.POSITIVE_INFINITY, active: 0 },
    );
  }

  /** Binds the admin endpoint and opens the ADS stream; config arrives asynchronously. */
  async start(): Promise<void> {
    if (this.boot.admin) {
      const admin = createAdminServer({
        readyState: () => (this.draining ? 'DRAINING' : this.ready ? 'LIVE' : 'PRE_INITIALIZING'),
        statsText: () => this.stats.text(),
        statsPrometheus: () => this.stats.prometheus(),
        configDump: () => this.configDump(),
        clusters: () => this.clusters.dump(),
        listeners: () => this.listenerMgr.dump(),
      });
      await new Promise<void>((resolve, reject) => {
        admin.once('error', reject);
        admin.listen(this.boot.admin!.port, this.boot.admin!.host, () => resolve());
      });
      this.admin = admin;
    }
    const a = this.boot.ads;
    this.ads = new AdsClient({
      channel: { host: a.host, port: a.port, tls: a.tls ? { caPem: a.caPem } : undefined, serverName: a.sni },
      token: a.token,
      node: {
        id: this.boot.node.id,
        cluster: this.boot.node.cluster,
        metadata: toStruct(this.boot.node.metadata),
        user_agent_name: EMBEDDED_USER_AGENT,
        client_features: [...EMBEDDED_CLIENT_FEATURES],
      },
      log: this.log,
      stats: this.stats.controlPlane,
      onUpdate: (t, r, v) => this.onUpdate(t, r, v),
    });
    this.ads.start();
    this.log.info({ cp: `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`, admin: this.adminAddress() }, 'embedded engine started');
  }

  private async onUpdate(typeUrl: string, resources: Map<string, any>, version: string): Promise<string | undefined> {
    const key = KEY_OF[typeUrl];
    if (!key) return `type ${typeUrl} is not supported by the embedded engine`;
    const candidate: RawResources = { ...this.raw, [key]: resources };
    const r = validate(candidate);
    if (!r.ok) return r.problems.join('; ');
    const previous = this.config;
    try {
      await this.applyConfig(r.config);
    } catch (err) {
      await this.applyConfig(previous).catch(() => undefined);
      return (err as Error).message;
    }
    this.raw = candidate;
    this.config = r.config;
    this.accepted.add(typeUrl);
    this.versions.set(typeUrl, version);
    const refs = referencedNames(candidate);
    this.ads?.setNames(TypeUrl.ClusterLoadAssignment, refs.eds);
    this.ads?.setNames(TypeUrl.RouteConfiguration, refs.rds);
    this.ads?.setNames(TypeUrl.Secret, refs.sds);
    // Ready like Envoy's initial fetch: LDS and CDS in, every referenced EDS/RDS/SDS resource in, every listener bound.
    const complete = refs.eds.every((n) => candidate.assignments.has(n)) && refs.rds.every((n) => candidate.routes.has(n)) && refs.sds.every((n) => candidate.secrets.has(n));
    if (!this.ready && complete && this.accepted.has(TypeUrl.Listener) && this.accepted.has(TypeUrl.Cluster) && this.listenerMgr.dump().length === r.config.listeners.size) {
      this.ready = true;
      this.log.info({ listeners: r.config.listeners.size, clusters: r.config.clusters.size }, 'first config applied; ready');
    }
    this.log.debug({ typeUrl, version, resources: resources.size }, 'config applied');
    return undefined;
  }

  private async applyConfig(c: ConfigModel): Promise<void> {
    const changed = this.secrets.update(c.secrets);
    if (changed.length) this.log.info({ secrets: changed }, 'secrets updated; new connections use them');
    this.clusters.apply(c);
    await this.listenerMgr.apply(c);
  }

  /** The applied resources as Envoy field-named JSON (keys of secrets redacted). */
  configDump(): Record<string, unknown> {
    const sorted = (m: Map<string, any>) => [...m.keys()].sort().map((k) => m.get(k));
    return {
      versions: Object.fromEntries([...this.versions].sort()),
      listeners: sorted(this.raw.listeners),
      clusters: sorted(this.raw.clusters),
      endpoints: sorted(this.raw.assignments),
      routes: sorted(this.raw.routes),
      secrets: this.secrets.dump(),
    };
  }

  /** `host:port` of the admin endpoint, once started. */
  adminAddress(): string | undefined {
    const a = this.admin?.address();
    return a && typeof a === 'object' ? `${a.address}:${a.port}` : undefined;
  }

  /** The port a listener is bound to (for listeners configured with port 0). */
  listenerPort(name: string): number | undefined {
    return this.listenerMgr.boundPort(name);
  }

  isReady(): boolean {
    return this.ready && !this.draining;
  }

  async drain(): Promise<void> {
    this.draining = true;
    await this.listenerMgr.drainAll();
  }

  async close(): Promise<void> {
    this.ads?.close();
    await this.drain();
    this.clusters.destroy();
    await new Promise<void>((resolve) => (this.admin ? this.admin.close(() => resolve()) : resolve()));
    this.admin?.closeAllConnections();
  }

  destroy(): void {
    this.ads?.close();
    this.listenerMgr.destroy();
    this.clusters.destroy();
    this.admin?.closeAllConnections();
    this.admin?.close();
  }

  async metrics(): Promise<string> {
    return this.stats.prometheus();
  }
}
