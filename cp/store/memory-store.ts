/**
 * In-memory store: for tests and for `KUMA_STORE_TYPE=memory`. Same semantics as the
 * durable stores (versions, conflicts, atomic transactions, watch after commit); the
 * checks live in transaction-plan.ts, shared with the SQLite store.
 */
import type { Resource, ResourceKey, ResourceType } from '../../api/resource';
import type { ListOptions, TransactionOp } from './store';
import { StoreBase } from './store-base';
import { deliverEvents, planTransaction, storeKey } from './transaction-plan';

/**
 * Sorts resources by mesh, then name: the order every store lists in. Compares code
 * units, not locale collation, so the order is the same on every machine.
 */
export function sortResources(items: Resource[]): Resource[] {
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return items.sort((a, b) => cmp(a.meta.mesh ?? '', b.meta.mesh ?? '') || cmp(a.meta.name, b.meta.name));
}

/** Freezes a stored resource and everything in it (it is only ever replaced, never changed). */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/**
 * A ResourceStore held in a Map; clones on the way out of get/list so callers cannot
 * mutate it. Stored resources are frozen, so listShared can hand them out uncopied.
 */
export class MemoryStore extends StoreBase {
  private readonly items = new Map<string, Resource>();
  /** listShared's answer per type, dropped when that type is written. */
  private readonly sharedLists = new Map<ResourceType, readonly Resource[]>();
  private counter = 0;

  async get(type: ResourceType, key: ResourceKey): Promise<Resource | undefined> {
    const r = this.items.get(storeKey(type, key));
    return r ? structuredClone(r) : undefined;
  }
  async list(type: ResourceType, opts: ListOptions = {}): Promise<Resource[]> {
    const out: Resource[] = [];
    for (const r of this.items.values()) {
      if (r.meta.type !== type) continue;
      if (opts.mesh !== undefined && r.meta.mesh !== opts.mesh) continue;
      out.push(structuredClone(r));
    }
    return sortResources(out);
  }

  async listShared(type: ResourceType): Promise<readonly Resource[]> {
    let cached = this.sharedLists.get(type);
    if (!cached) {
      const out: Resource[] = [];
      for (const r of this.items.values()) if (r.meta.type === type) out.push(r);
      cached = Object.freeze(sortResources(out));
      this.sharedLists.set(type, cached);
    }
    return cached;
  }

  async transaction(ops: TransactionOp[]): Promise<Resource[]> {
    // Plan against committed state; the counter advances only if the plan succeeds.
    let counter = this.counter;
    const plan = planTransaction(ops, {
      current: (type, key) => this.items.get(storeKey(type, key)),
      nextVersion: () => String(++counter),
      now: new Date().toISOString(),
    });
    for (const w of plan.writes) {
      if (w.value === null) this.items.delete(storeKey(w.type, w.key));
      else this.items.set(storeKey(w.type, w.key), deepFreeze(w.value));
      this.sharedLists.delete(w.type);
    }
    this.counter = counter;
    deliverEvents(this.listeners, plan.events);
    return plan.results;
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
