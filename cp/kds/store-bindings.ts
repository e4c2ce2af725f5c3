/**
 * Binds the pure sync rules (sync-policy.ts) to a ResourceStore: the sources senders
 * read from and the sinks receivers write into, on global and on a zone.
 */
import type { Resource, ResourceInput, ResourceKey } from '../../api/resource';
import { ConflictError } from '../../lib/errors';
import type { ResourceStore, StoreEvent, TransactionOp } from '../store/store';
import { canonicalJson, contentVersion, type KdsResource } from './codec';
import { globalName } from './global-names';
import { parseWireName, wireName, type KdsResourceType } from './kds-types';
import type { ResourceSink } from './delta-receiver';
import type { ResourceSource } from './delta-sender';
import {
  checkFromGlobal,
  checkFromZone,
  globalStoredAsZoneWire,
  globalStoreInput,
  globalToZoneResources,
  isFromGlobal,
  zoneStoreInput,
  zoneToGlobalResources,
} from './sync-policy';

/** Global's source for the GlobalToZoneSync stream of `zone`. */
export function globalSourceFor(store: ResourceStore, zone: string): ResourceSource {
  return async (type) => {
    const [stored, zones, secrets] = await Promise.all([
      store.list(type),
      type === 'ZoneIngress' ? store.list('Zone') : Promise.resolve([]),
      type === 'Mesh' ? store.list('Secret') : Promise.resolve([]),
    ]);
    return globalToZoneResources(type, zone, stored, zones, secrets);
  };
}

/** A zone's source for its ZoneToGlobalSync stream. */
export function zoneSourceFor(store: ResourceStore, zone: string): ResourceSource {
  return async (type) => {
    const [stored, dataplanes] = await Promise.all([store.list(type), type === 'ZoneIngress' ? store.list('Dataplane') : Promise.resolve(undefined)]);
    return zoneToGlobalResources(type, zone, stored, dataplanes);
  };
}

function sameContent(existing: Resource, input: ResourceInput): boolean {
  return canonicalJson(existing.spec) === canonicalJson(input.spec) && canonicalJson(existing.meta.labels ?? {}) === canonicalJson(input.labels ?? {});
}

async function applyAtomically(
  store: ResourceStore,
  type: KdsResourceType,
  inputs: ResourceInput[],
  removedKeys: ResourceKey[],
  owned: (r: Resource) => boolean,
  mayTakeOver: boolean,
): Promise<void> {
  const ops: TransactionOp[] = [];
  for (const input of inputs) {
    const existing = await store.get(type, input);
    if (existing && !owned(existing) && !mayTakeOver) {
      throw new ConflictError(`${type} ${wireName(input.mesh, input.name)} already exists and was not created by this sync`);
    }
    if (existing && sameContent(existing, input)) continue; // no-op writes would wake every watcher
    ops.push({ op: 'upsert', input, ...(existing ? { expectedVersion: existing.meta.version } : {}) });
  }
  for (const key of removedKeys) {
    const existing = await store.get(type, key);
    if (existing && owned(existing)) ops.push({ op: 'delete', type, key, expectedVersion: existing.meta.version });
  }
  if (ops.length > 0) await store.transaction(ops);
}

/** Global's sink for the ZoneToGlobalSync stream of `zone`. */
export function globalSinkFor(store: ResourceStore, zone: string): ResourceSink {
  return {
    async held(type) {
      const out: Record<string, string> = {};
      for (const r of await store.list(type)) {
        const wire = globalStoredAsZoneWire(type, zone, r);
        if (wire) out[wireName(wire.mesh, wire.name)] = contentVersion(type, wire.spec, wire.labels);
      }
      return out;
    },
    check: (r) => checkFromZone(zone, r),
    async apply(type, upserts, removed) {
      const keys = removed.map((n) => {
        const k = parseWireName(type, n)!;
        return { ...(k.mesh !== undefined ? { mesh: k.mesh } : {}), name: globalName(k.name, zone) };
      });
      const owned = (r: Resource) => globalStoredAsZoneWire(type, zone, r) !== undefined;
      await applyAtomically(store, type, upserts.map((r) => globalStoreInput(zone, r)), keys, owned, false);
    },
  };
}

/** A zone's sink for the GlobalToZoneSync stream. Global is the source of truth: it may take over a local resource of the same name. */
export function zoneSinkFor(store: ResourceStore, zone: string): ResourceSink {
  return {
    async held(type) {
      const out: Record<string, string> = {};
      for (const r of await store.list(type)) {
        if (isFromGlobal(type, zone, r)) out[wireName(r.meta.mesh, r.meta.name)] = contentVersion(type, r.spec, r.meta.labels ?? {});
      }
      return out;
    },
    check: (r) => checkFromGlobal(zone, r),
    async apply(type, upserts, removed) {
      const keys = removed.map((n) => parseWireName(type, n)!);
      const owned = (r: Resource) => isFromGlobal(type, zone, r);
      await applyAtomically(store, type, upserts.map((r: KdsResource) => zoneStoreInput(r)), keys, owned, type !== 'ZoneIngress');
    },
  };
}

/** Which KDS types a store event may change (a Zone's `enabled` decides which ingresses other zones see). */
export function affectedTypes(ev: StoreEvent): KdsResourceType[] {
  const t = ev.resource.meta.type;
  if (t === 'Zone') return ['ZoneIngress'];
  // A Mesh waits for its CA secrets (sync-policy.meshCaReady).
  if (t === 'Secret') return ['Secret', 'Mesh'];
  // A zone's ingresses advertise its dataplanes (sync-policy.zoneToGlobalResources).
  if (t === 'Dataplane') return ['Dataplane', 'ZoneIngress'];
  if (t === 'Mesh' || t === 'GlobalSecret' || t === 'TrafficRoute' || t === 'TrafficPermission' || t === 'ZoneIngress') return [t];
  return [];
}

/**
 * Watches the store and calls `listener` with the set of KDS types that changed, at
 * most once per `delayMs` (bursts of writes, e.g. a resync, become one recompute).
 */
export function watchKdsTypes(store: ResourceStore, delayMs: number, listener: (types: Set<KdsResourceType>) => void): () => void {
  let pending = new Set<KdsResourceType>();
  let timer: NodeJS.Timeout | undefined;
  const unwatch = store.watch((ev) => {
    for (const t of affectedTypes(ev)) pending.add(t);
    if (pending.size > 0 && !timer) {
      timer = setTimeout(() => {
        timer = undefined;
        const types = pending;
        pending = new Set();
        listener(types);
      }, delayMs);
    }
  });
  return () => {
    unwatch();
    if (timer) clearTimeout(timer);
  };
}
