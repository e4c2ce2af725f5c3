/**
 * Keeps the snapshot of every connected proxy current. It watches the store (and the
 * VIP allocator), debounces bursts of changes, and regenerates the proxies a change
 * can affect: a mesh-scoped change -> the proxies of that mesh and every ingress; a
 * ZoneIngress or global change -> everyone. Regeneration is serialized, so snapshots
 * never go back in time. Identity certificates are issued per proxy and re-issued at
 * their renewal time, which pushes a new `identity_cert` Secret over SDS.
 *
 * A generated snapshot that fails to encode or is inconsistent is refused: the proxy
 * keeps its last good snapshot and the CP logs why (go-control-plane's contract).
 */
import type { Component } from '../../../lib/component';
import type { Logger } from '../../../lib/logger';
import { performance } from 'node:perf_hooks';
import type { Resource, ResourceType } from '../../../api/resource';
import type { ResourceStore, StoreEvent } from '../../store/store';
import type { CaManager, IdentityCert } from '../../ca/types';
import { renewAt as caRenewAt } from '../../ca/certificates';
import type { VipAllocator } from '../../vips/types';
import { buildMeshSnapshots, type StoreContents } from '../generators/mesh-snapshot';
import { buildProxyContext } from '../generators/proxy-context';
import { generateResources } from '../generators/profiles';
import { inboundTags } from '../generators/endpoints';
import type { CpSettings, IdentityMaterial, MeshSnapshot, ResourceSet } from '../generators/types';
import { Snapshot, consistent, GenerationalEncodeCache, type TypeCache } from '../cache/snapshot';
import type { SnapshotCache } from '../cache/snapshot-cache';
import type { ParsedProxyId } from './proxy-id';

/** Options of the reconciler. */
export interface ReconcilerOptions {
  store: ResourceStore;
  cache: SnapshotCache;
  cp: CpSettings;
  log: Logger;
  ca?: CaManager;
  vips?: VipAllocator;
  /** Quiet period after a change before regenerating (ms). */
  debounceMs?: number;
  /** Longest stretch of generation (ms) before yielding to the event loop (default SLICE_MS). */
  sliceMs?: number;
  /** Test hook: rewrites a proxy's resources before they are snapshotted. */
  transform?: (nodeId: string, set: ResourceSet) => ResourceSet;
}

/** Identity certificates issued at once during one regeneration. */
const ISSUE_CONCURRENCY = 8;

/**
 * Longest stretch (ms) a regeneration computes before yielding to the event loop. A
 * mesh-wide change regenerates every proxy of the mesh; yielding lets the responses
 * already set go out (and ACKs come in) while the rest is computed, instead of every
 * stream waiting for the last proxy's snapshot. Each turn of the loop also handles the
 * ACKs that arrived meanwhile; longer slices mean fewer, larger batches of that work.
 * bench/ads-load at 5,000 proxies: 8 ms slices 0.46 ms of CP CPU per proxy for a change,
 * 40 ms 0.33 (separate runs on a shared machine, so partly load; not a clean A/B).
 */
const SLICE_MS = 40;

/** Size of each generation of the reconciler's encoding cache, in entries per connected proxy (plus 1024). */
const ENCODE_CACHE_PER_PROXY = 4;

/** Regenerations of at least this many proxies are logged with their timing. */
const LOG_REGENERATION_FROM = 100;

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Connected {
  proxy: ParsedProxyId;
  refs: number;
}

interface IssuedIdentity {
  cert: IdentityCert;
  key: string;
  renewAt: number;
  timer?: NodeJS.Timeout;
}

/** Generates and refreshes snapshots for connected proxies. */
export class XdsReconciler implements Component {
  readonly name = 'xds-reconciler';
  private readonly connected = new Map<string, Connected>();
  private readonly identities = new Map<string, IssuedIdentity>();
  private unsubscribe: (() => void)[] = [];
  private timer?: NodeJS.Timeout;
  private dirtyAll = false;
  private readonly dirtyMeshes = new Set<string>();
  private chain: Promise<void> = Promise.resolve();
  /** The batch waiting for the running regeneration to finish; requests join it. */
  private nextBatch?: { ids: Set<string>; done: Promise<void> };
  /** Store contents of the last regeneration, valid while `epoch` is unchanged. */
  private cached?: { epoch: number; contents: StoreContents; meshes: Map<string, MeshSnapshot>; index: ProxyIndex };
  private epoch = 0;
  private stopped = false;
  private readonly encodeCache = new GenerationalEncodeCache(1024);
  /** How many regenerations ran (for tests and metrics). */
  generations = 0;

  constructor(private readonly opts: ReconcilerOptions) {}

  async start(): Promise<void> {
    this.unsubscribe.push(this.opts.store.watch((ev) => this.onStoreEvent(ev)));
    if (this.opts.vips) this.unsubscribe.push(this.opts.vips.onChange((mesh) => this.markDirty(mesh)));
  }

  async close(): Promise<void> {
    this.destroy();
    await this.chain.catch(() => undefined);
  }

  destroy(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    for (const i of this.identities.values()) clearTimeout(i.timer);
  }

  /** Node ids currently connected, sorted. */
  connectedNodeIds(): string[] {
    return [...this.connected.keys()].sort();
  }

  /** Registers a connected proxy and resolves once its first snapshot is in the cache. Returns the release function. */
  async register(nodeId: string, proxy: ParsedProxyId): Promise<() => void> {
    const c = this.connected.get(nodeId);
    if (c) c.refs++;
    else this.connected.set(nodeId, { proxy, refs: 1 });
    await this.enqueue(new Set([nodeId]));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const cur = this.connected.get(nodeId);
      if (!cur) return;
      if (--cur.refs === 0) {
        this.connected.delete(nodeId);
        this.opts.cache.clearSnapshot(nodeId);
        const id = this.identities.get(nodeId);
        clearTimeout(id?.timer);
        this.identities.delete(nodeId);
      }
    };
  }

  /** Regenerates every connected proxy now (after pending changes); resolves when done. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dirtyAll = false;
    this.dirtyMeshes.clear();
    await this.enqueue(new Set(this.connected.keys()));
  }

  private onStoreEvent(ev: StoreEvent): void {
    this.epoch++;
    const r = ev.resource;
    if (r.meta.type === 'GlobalSecret') return;
    if (r.meta.type === 'Secret') {
      // A mesh CA appeared or rotated: identities issued so far may be missing or signed by the old CA.
      for (const [nodeId, c] of this.connected) {
        if (c.proxy.mesh === r.meta.mesh) {
          clearTimeout(this.identities.get(nodeId)?.timer);
          this.identities.delete(nodeId);
        }
      }
      return this.markDirty(r.meta.mesh);
    }
    if (r.meta.type === 'Config') return this.markDirty(undefined);
    if (r.meta.type === 'Mesh') return this.markDirty(r.meta.name);
    if (r.meta.mesh !== undefined) return this.markDirty(r.meta.mesh);
    this.markDirty(undefined);
  }

  /** Schedules regeneration for a mesh (undefined: everyone). */
  private markDirty(mesh: string | undefined): void {
    this.epoch++;
    if (this.stopped) return;
    if (mesh === undefined) this.dirtyAll = true;
    else this.dirtyMeshes.add(mesh);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const targets = new Set<string>();
      for (const [id, c] of this.connected) {
        if (this.dirtyAll || c.proxy.kind === 'ingress' || this.dirtyMeshes.has(c.proxy.mesh)) targets.add(id);
      }
      this.dirtyAll = false;
      this.dirtyMeshes.clear();
      if (targets.size) void this.enqueue(targets);
    }, this.opts.debounceMs ?? 100);
  }

  /**
   * Queues a regeneration. Requests that arrive while one runs are merged into a single
   * next batch, so a thousand proxies connecting at once cost a few regenerations, not
   * a thousand (each reading the store).
   */
  private enqueue(nodeIds: Set<string>): Promise<void> {
    if (this.nextBatch) {
      for (const id of nodeIds) this.nextBatch.ids.add(id);
      return this.nextBatch.done;
    }
    const batch = { ids: new Set(nodeIds), done: Promise.resolve() };
    const queuedAt = performance.now();
    batch.done = this.chain.then(() => {
      if (this.nextBatch === batch) this.nextBatch = undefined;
      return this.regenerate(batch.ids, queuedAt);
    });
    this.nextBatch = batch;
    this.chain = batch.done.catch((err) => this.opts.log.error({ err }, 'xDS regeneration failed'));
    return batch.done;
  }

  private async readContents(): Promise<StoreContents> {
    const s = this.opts.store;
    // Generators never change what they read, so a store that can hand out its own
    // (frozen) resources saves copying every dataplane on every regeneration.
    const list = (type: ResourceType) => (s.listShared ? s.listShared(type) : s.list(type)) as Promise<Resource[]>;
    const [meshes, dataplanes, zoneIngresses, trafficRoutes, trafficPermissions] = await Promise.all([
      list('Mesh'),
      list('Dataplane'),
      list('ZoneIngress'),
      list('TrafficRoute'),
      list('TrafficPermission'),
    ]);
    const vips: Record<string, Record<string, string>> = {};
    if (this.opts.vips) {
      for (const m of meshes) {
        try {
          vips[m.meta.name] = Object.fromEntries([...(await this.opts.vips.table(m.meta.name))].sort(([a], [b]) => (a < b ? -1 : 1)));
        } catch (err) {
          this.opts.log.error({ err, mesh: m.meta.name }, 'reading the VIP table failed; generating without VIPs');
        }
      }
    }
    return { meshes, dataplanes, zoneIngresses, trafficRoutes, trafficPermissions, vips };
  }

  private async regenerate(nodeIds: Set<string>, queuedAt = performance.now()): Promise<void> {
    if (this.stopped || nodeIds.size === 0) return;
    this.generations++;
    const startedAt = performance.now();
    let slices = 1;
    let published = 0;
    let contents: StoreContents;
    let meshes: Map<string, MeshSnapshot>;
    let index: ProxyIndex;
    if (this.cached && this.cached.epoch === this.epoch) {
      ({ contents, meshes, index } = this.cached);
    } else {
      const epoch = this.epoch;
      contents = await this.readContents();
      meshes = buildMeshSnapshots(contents, this.opts.cp.zone);
      index = indexProxies(contents);
      // Only reusable if nothing changed while reading.
      this.cached = epoch === this.epoch ? { epoch, contents, meshes, index } : undefined;
    }
    // Encodings by content live across regenerations: a route change leaves most of a
    // proxy's own resources (its inbound listener, say) and most destinations as they
    // were. Bounded by the number of connected proxies; least recently used go first.
    this.encodeCache.limit = ENCODE_CACHE_PER_PROXY * this.connected.size + 1024;
    const encodeCache = this.encodeCache;
    // Types made of shared resources only, built once per regeneration (replicas agree on them).
    const typeCache: TypeCache = new Map();
    const plans: { nodeId: string; p: ParsedProxyId; resource?: Resource; meshSnap?: MeshSnapshot; log: () => Logger }[] = [];
    for (const nodeId of [...nodeIds].sort()) {
      const c = this.connected.get(nodeId);
      if (!c) continue;
      const p = c.proxy;
      // A child logger per proxy costs more than generating for it: made only when something is logged.
      let child: Logger | undefined;
      const log = () => (child ??= this.opts.log.child({ node: nodeId, mesh: p.mesh, dataplane: p.name, zone: this.opts.cp.zone }));
      const resource = p.kind === 'ingress' ? index.ingresses.get(p.name) : index.dataplanes.get(`${p.mesh}\u0000${p.name}`);
      if (!resource && p.kind !== 'proxyless') {
        log().warn('proxy resource no longer in the store; keeping its last snapshot');
        continue;
      }
      const meshSnap = p.kind === 'ingress' ? undefined : meshes.get(p.mesh);
      if (p.kind !== 'ingress' && !meshSnap) {
        log().warn('mesh no longer exists; keeping the last snapshot');
        continue;
      }
      plans.push({ nodeId, p, resource, meshSnap, log });
    }
    // Identities first, several at a time: key generation runs on libuv's pool, and a
    // connect storm in an mTLS mesh should not issue one certificate after another.
    const identities = new Map<string, IdentityMaterial | undefined>();
    const needing = plans.filter((x) => x.meshSnap?.mtls && x.resource);
    let next = 0;
    const worker = async () => {
      while (next < needing.length) {
        const x = needing[next++];
        identities.set(x.nodeId, await this.identityFor(x.nodeId, x.meshSnap!, x.resource!, x.log()));
      }
    };
    await Promise.all(Array.from({ length: Math.min(ISSUE_CONCURRENCY, needing.length) }, worker));
    let sliceStart = performance.now();
    for (const { nodeId, p, resource, log } of plans) {
      if (performance.now() - sliceStart >= (this.opts.sliceMs ?? SLICE_MS)) {
        await yieldToLoop();
        slices++;
        sliceStart = performance.now();
      }
      // The proxy may have gone (or the reconciler stopped) while this ran.
      if (this.stopped) return;
      if (!this.connected.has(nodeId)) continue;
      try {
        const ctx = buildProxyContext(meshes, { kind: p.kind, mesh: p.mesh, name: p.name, resource, dnsEnabled: p.dnsEnabled, clusterIdleTimeout: p.clusterIdleTimeout }, this.opts.cp, identities.get(nodeId));
        let set = generateResources(ctx);
        // The hook gets its own copy: generated resources are shared between proxies and frozen.
        if (this.opts.transform) set = this.opts.transform(nodeId, copyResourceSet(set));
        const snap = Snapshot.fromResourceSet(set, encodeCache, typeCache);
        const problems = consistent(snap);
        if (problems.length) {
          log().error({ problems }, 'generated snapshot is inconsistent; keeping the last good one');
          continue;
        }
        this.opts.cache.setSnapshot(nodeId, snap);
        published++;
      } catch (err) {
        log().error({ err }, 'generating the proxy config failed; keeping the last good one');
      }
    }
    // One line per large regeneration (a mesh-wide change, a connect storm): how long it
    // waited, how long it took, in how many slices.
    if (nodeIds.size >= LOG_REGENERATION_FROM) {
      const now = performance.now();
      this.opts.log.info(
        { proxies: nodeIds.size, published, queuedMs: Math.round(startedAt - queuedAt), ms: Math.round(now - startedAt), slices },
        'xDS regeneration done',
      );
    }
  }

  private async identityFor(nodeId: string, mesh: MeshSnapshot, dp: Resource, log: Logger) {
    const ca = this.opts.ca;
    if (!ca) return undefined;
    const tags: Record<string, string[]> = {};
    for (const inbound of dp.spec.networking?.inbound ?? []) {
      for (const [k, v] of Object.entries(inboundTags(inbound, this.opts.cp.zone))) {
        const vals = (tags[k] ??= []);
        if (!vals.includes(v)) vals.push(v);
      }
    }
    for (const v of Object.values(tags)) v.sort();
    const key = `${mesh.name}|${mesh.spec.mtls?.enabledBackend}|${JSON.stringify(Object.entries(tags).sort())}`;
    const cur = this.identities.get(nodeId);
    if (cur && cur.key === key && Date.now() < cur.renewAt) return pem(cur.cert);
    try {
      const cert = await ca.issue({ mesh: mesh.name, tags });
      const renewAt = caRenewAt(cert).getTime();
      clearTimeout(cur?.timer);
      const issued: IssuedIdentity = { cert, key, renewAt };
      const ms = Math.max(1000, renewAt - Date.now());
      if (ms < 2 ** 31 - 1) {
        issued.timer = setTimeout(() => {
          log.info('renewing identity certificate');
          void this.enqueue(new Set([nodeId]));
        }, ms);
        issued.timer.unref();
      }
      this.identities.set(nodeId, issued);
      log.info({ notAfter: cert.notAfter.toISOString(), renewAt: new Date(renewAt).toISOString() }, 'identity certificate issued');
      return pem(cert);
    } catch (err) {
      log.error({ err }, 'issuing the identity certificate failed');
      return cur ? pem(cur.cert) : undefined;
    }
  }
}

/** Proxies' own resources by key, so each of thousands of proxies is found without a scan. */
interface ProxyIndex {
  /** `<mesh>\0<name>` -> Dataplane. */
  dataplanes: Map<string, Resource>;
  ingresses: Map<string, Resource>;
}

function indexProxies(c: StoreContents): ProxyIndex {
  return {
    dataplanes: new Map(c.dataplanes.map((r) => [`${r.meta.mesh}\u0000${r.meta.name}`, r])),
    ingresses: new Map(c.zoneIngresses.map((r) => [r.meta.name, r])),
  };
}

function copyResourceSet(set: ResourceSet): ResourceSet {
  return new Map([...set].map(([type, m]) => [type, new Map([...m].map(([name, r]) => [name, structuredClone(r)]))]));
}

function pem(c: IdentityCert) {
  return { certPem: c.certPem, keyPem: c.keyPem, caPem: c.caPem };
}
