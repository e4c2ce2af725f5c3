/**
 * In-memory store: for tests and for `KUMA_STORE_TYPE=memory`. Same semantics as the
 * durable stores (versions, conflicts, atomic transactions, watch after commit).
 */
import { ConflictError, NotFoundError } from '../../lib/errors';
import { keyString, type Resource, type ResourceInput, type ResourceKey, type ResourceType } from '../../api/resource';
import type { ListOptions, ResourceStore, StoreEvent, TransactionOp, WriteOptions } from './store';

function mapKey(type: string, key: ResourceKey): string {
  return `${type}\u0000${key.mesh ?? ''}\u0000${key.name}`;
}

/** Sorts resources by mesh, then name: the order every store lists in. */
export function sortResources(items: Resource[]): Resource[] {
  return items.sort((a, b) => {
    const m = (a.meta.mesh ?? '').localeCompare(b.meta.mesh ?? '');
    return m !== 0 ? m : a.meta.name.localeCompare(b.meta.name);
  });
}

/** A ResourceStore held in a Map; clones on the way in and out so callers cannot mutate it. */
export class MemoryStore implements ResourceStore {
  private readonly items = new Map<string, Resource>();
  private readonly listeners = new Set<(ev: StoreEvent) => void>();
  private counter = 0;

  async create(input: ResourceInput): Promise<Resource> {
    return (await this.transaction([{ op: 'create', input }]))[0];
  }
  async update(input: ResourceInput, opts: WriteOptions = {}): Promise<Resource> {
    return (await this.transaction([{ op: 'update', input, expectedVersion: opts.expectedVersion }]))[0];
  }
  async upsert(input: ResourceInput, opts: WriteOptions = {}): Promise<Resource> {
    return (await this.transaction([{ op: 'upsert', input, expectedVersion: opts.expectedVersion }]))[0];
  }
  async delete(type: ResourceType, key: ResourceKey, opts: WriteOptions = {}): Promise<void> {
    await this.transaction([{ op: 'delete', type, key, expectedVersion: opts.expectedVersion }]);
  }
  async get(type: ResourceType, key: ResourceKey): Promise<Resource | undefined> {
    const r = this.items.get(mapKey(type, key));
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
    // Plan every op against a scratch view first; commit only if all succeed.
    const staged = new Map<string, Resource | null>();
    const view = (k: string) => (staged.has(k) ? staged.get(k) ?? undefined : this.items.get(k));
    const events: StoreEvent[] = [];
    const results: Resource[] = [];
    const now = new Date().toISOString();
    for (const op of ops) {
      if (op.op === 'delete') {
        const k = mapKey(op.type, op.key);
        const cur = view(k);
        if (!cur) throw new NotFoundError(`${keyString(op.type, op.key)} not found`);
        if (op.expectedVersion !== undefined && op.expectedVersion !== cur.meta.version) {
          throw new ConflictError(`${keyString(op.type, op.key)} was changed concurrently (version ${cur.meta.version}, expected ${op.expectedVersion})`);
        }
        staged.set(k, null);
        events.push({ kind: 'delete', resource: cur });
        continue;
      }
      const input = op.input;
      const k = mapKey(input.type, input);
      const cur = view(k);
      if (op.op === 'create' && cur) throw new ConflictError(`${keyString(input.type, input)} already exists`);
      if (op.op === 'update' && !cur) throw new NotFoundError(`${keyString(input.type, input)} not found`);
      if (op.op !== 'create' && op.expectedVersion !== undefined && cur?.meta.version !== op.expectedVersion) {
        throw new ConflictError(`${keyString(input.type, input)} was changed concurrently (version ${cur?.meta.version ?? 'none'}, expected ${op.expectedVersion})`);
      }
      const next: Resource = {
        meta: {
          type: input.type,
          ...(input.mesh !== undefined ? { mesh: input.mesh } : {}),
          name: input.name,
          version: String(++this.counter),
          creationTime: cur?.meta.creationTime ?? now,
          modificationTime: now,
          ...(input.labels && Object.keys(input.labels).length > 0 ? { labels: { ...input.labels } } : {}),
        },
        spec: structuredClone(input.spec),
      };
      staged.set(k, next);
      events.push({ kind: cur ? 'update' : 'create', resource: next });
      results.push(structuredClone(next));
    }
    for (const [k, v] of staged) {
      if (v === null) this.items.delete(k);
      else this.items.set(k, v);
    }
    for (const ev of events) this.emit({ kind: ev.kind, resource: structuredClone(ev.resource) });
    return results;
  }

  watch(listener: (ev: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(ev: StoreEvent): void {
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch {
        // A failing watcher must not break the writer or other watchers.
      }
    }
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
