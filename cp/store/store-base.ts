/**
 * What every store engine shares: the single-resource writes are one-op transactions,
 * so their conflict and not-found rules are exactly the transaction's.
 */
import type { Resource, ResourceInput, ResourceKey, ResourceType } from '../../api/resource';
import type { ListOptions, ResourceStore, StoreEvent, TransactionOp, WriteOptions } from './store';

/** Base of the store engines: create/update/upsert/delete over transaction(), and the watcher set. */
export abstract class StoreBase implements ResourceStore {
  /** Watchers; engines deliver to them after a write is committed (transaction-plan's deliverEvents). */
  protected readonly listeners = new Set<(ev: StoreEvent) => void>();

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
  abstract get(type: ResourceType, key: ResourceKey): Promise<Resource | undefined>;
  abstract list(type: ResourceType, opts?: ListOptions): Promise<Resource[]>;
  abstract transaction(ops: TransactionOp[]): Promise<Resource[]>;
  watch(listener: (ev: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  abstract close(): Promise<void>;
}
