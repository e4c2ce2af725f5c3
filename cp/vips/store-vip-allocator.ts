/**
 * The VIP allocator of a CP: recomputes VIPs when Dataplanes or ZoneIngresses change
 * (debounced), persists them in the store as the Config resource `kuma-vips` (so they
 * survive restarts and are shared by CP replicas: writes use optimistic concurrency and
 * are retried on a conflict), and tells listeners which meshes' tables changed.
 * A full range is logged as an error and leaves the newest services without a VIP; the
 * CP keeps running.
 */
import type { Component } from '../../lib/component';
import { ConflictError } from '../../lib/errors';
import { silentLogger, type Logger } from '../../lib/logger';
import type { ResourceStore, StoreEvent } from '../store/store';
import { allocate, liveTables, parseCidr, parseState, DEFAULT_RELEASE_GRACE_MS, type VipState } from './allocation';
import { servicesByMesh } from './services';
import type { VipAllocator, VipTable } from './types';

/** Name of the Config resource holding the VIP state. */
export const VIPS_CONFIG_NAME = 'kuma-vips';
/** Default VIP range (Kuma's KUMA_DNS_SERVER_CIDR default). */
export const DEFAULT_VIP_CIDR = '240.0.0.0/4';

/** Options of StoreVipAllocator. */
export interface StoreVipAllocatorOptions {
  store: ResourceStore;
  /** KUMA_DNS_SERVER_CIDR. */
  cidr?: string;
  log?: Logger;
  /** Coalesces bursts of store events (default 100 ms). */
  debounceMs?: number;
  releaseGraceMs?: number;
  now?: () => number;
}

const EMPTY: VipTable = new Map();
const MAX_CONFLICT_RETRIES = 5;

/** VipAllocator over the store, and the Component that keeps it current. */
export class StoreVipAllocator implements VipAllocator, Component {
  readonly name = 'vip-allocator';
  private readonly store: ResourceStore;
  private readonly cidr: string;
  private readonly log: Logger;
  private readonly debounceMs: number;
  private readonly now: () => number;
  private readonly listeners = new Set<(mesh: string) => void>();
  private tables = new Map<string, Map<string, string>>();
  private computed = false;
  private dirty = true;
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private unsubscribe?: () => void;
  private closed = false;
  private exhaustedLogged = '';
  private lastJson = '';

  constructor(private readonly opts: StoreVipAllocatorOptions) {
    this.store = opts.store;
    this.cidr = opts.cidr ?? DEFAULT_VIP_CIDR;
    this.log = opts.log ?? silentLogger();
    this.debounceMs = opts.debounceMs ?? 100;
    this.now = opts.now ?? Date.now;
  }

  /** Checks the CIDR, computes the tables once, then follows the store. */
  async start(): Promise<void> {
    parseCidr(this.cidr); // a bad range stops the CP at startup with the variable named
    this.unsubscribe = this.store.watch((ev) => this.onEvent(ev));
    await this.refresh();
  }

  private onEvent(ev: StoreEvent): void {
    const type = ev.resource.meta.type;
    const ours = type === 'Config' && ev.resource.meta.name === VIPS_CONFIG_NAME;
    if (type !== 'Dataplane' && type !== 'ZoneIngress' && !ours) return;
    if (ours && ev.kind !== 'delete' && ev.resource.spec?.config === this.lastJson) return; // our own write
    // Our own Config changes too: another CP replica may have allocated.
    this.dirty = true;
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh().catch((err) => this.log.error({ err: (err as Error).message }, 'VIP allocation failed'));
    }, this.debounceMs);
    this.timer.unref?.();
  }

  /** Recomputes now (serialized with other runs); listeners hear about meshes whose table changed. */
  refresh(): Promise<void> {
    const run = this.chain.then(() => this.recompute());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async recompute(): Promise<void> {
    this.dirty = false;
    let result: ReturnType<typeof allocate> | undefined;
    for (let attempt = 0; ; attempt++) {
      const [dps, zis, cfg] = await Promise.all([this.store.list('Dataplane'), this.store.list('ZoneIngress'), this.store.get('Config', { name: VIPS_CONFIG_NAME })]);
      const prev: VipState | undefined = typeof cfg?.spec?.config === 'string' ? parseState(cfg.spec.config) : undefined;
      if (cfg && !prev) this.log.warn({ config: VIPS_CONFIG_NAME }, 'stored VIP state is unreadable; allocating afresh');
      result = allocate(prev, servicesByMesh(dps, zis), { cidr: this.cidr, now: this.now(), releaseGraceMs: this.opts.releaseGraceMs ?? DEFAULT_RELEASE_GRACE_MS });
      const json = JSON.stringify(result.state);
      this.lastJson = json;
      if (cfg?.spec?.config === json) break;
      try {
        await this.store.upsert({ type: 'Config', name: VIPS_CONFIG_NAME, spec: { config: json } }, cfg ? { expectedVersion: cfg.meta.version } : {});
        break;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= MAX_CONFLICT_RETRIES) throw err;
        // Another replica wrote first: start over from what it stored.
      }
    }
    const exhaustedKey = JSON.stringify(result.exhausted);
    if (result.exhausted.length > 0 && exhaustedKey !== this.exhaustedLogged) {
      this.log.error(
        { cidr: this.cidr, count: result.exhausted.length, services: result.exhausted.slice(0, 20).map((e) => `${e.mesh}/${e.service}`) },
        'VIP range exhausted: these services get no VIP; widen KUMA_DNS_SERVER_CIDR',
      );
    }
    this.exhaustedLogged = exhaustedKey;
    const next = liveTables(result.state);
    const changed = new Set<string>();
    for (const mesh of new Set([...this.tables.keys(), ...next.keys()])) {
      const a = JSON.stringify([...(this.tables.get(mesh) ?? [])]);
      const b = JSON.stringify([...(next.get(mesh) ?? [])]);
      if (a !== b) changed.add(mesh);
    }
    this.tables = next;
    this.computed = true;
    for (const mesh of [...changed].sort()) {
      this.log.info({ mesh, services: next.get(mesh)?.size ?? 0 }, 'VIP table changed');
      for (const l of this.listeners) {
        try {
          l(mesh);
        } catch (err) {
          this.log.error({ mesh, err: (err as Error).message }, 'VIP change listener failed');
        }
      }
    }
  }

  /** The live table of a mesh; recomputes first when the store changed since the last run. */
  async table(mesh: string): Promise<VipTable> {
    if (!this.computed || this.dirty) await this.refresh();
    return this.tables.get(mesh) ?? EMPTY;
  }

  /** Every mesh's live table (for the CP DNS server), as of the last computation. */
  snapshot(): ReadonlyMap<string, VipTable> {
    return this.tables;
  }

  /** Subscribes to table changes; returns an unsubscribe function. */
  onChange(listener: (mesh: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops following the store and waits for a run under way. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
  }

  /** Stops following the store. */
  destroy(): void {
    this.closed = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
  }
}
