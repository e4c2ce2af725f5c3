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

/** A ResourceStore held in a Map; clones on the way in and out so callers cannot mutate it. */
export class MemoryStore extends StoreBase {
  private readonly items = new Map<string, Resource>();
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
      else this.items.set(storeKey(w.type, w.key), w.value);
    }
    this.counter = counter;
    deliverEvents(this.listeners, plan.events);
    return plan.results;
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
