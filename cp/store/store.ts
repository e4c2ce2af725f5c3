/**
 * The resource store: one interface, several engines (memory for tests, SQLite by
 * default, PostgreSQL for several CP replicas). Writes use optimistic concurrency:
 * every resource has a version, and an update or delete that names a stale version
 * is refused with a ConflictError, never applied.
 */
import type { Resource, ResourceInput, ResourceKey, ResourceType } from '../../api/resource';

/** A change the store made, delivered to watchers after it is durable. */
export interface StoreEvent {
  kind: 'create' | 'update' | 'delete';
  /** For deletes: the resource as it was before deletion. */
  resource: Resource;
}

/** Options of an update or delete. */
export interface WriteOptions {
  /** When set, the write is applied only if the stored version equals it. */
  expectedVersion?: string;
}

/** Options of a list. */
export interface ListOptions {
  /** Only resources of this mesh (for mesh-scoped types). */
  mesh?: string;
}

/** The store every CP component reads and writes. */
export interface ResourceStore {
  /** Creates a resource; ConflictError when one with the same key exists. */
  create(input: ResourceInput): Promise<Resource>;
  /** Replaces a resource's spec and labels; NotFoundError when absent, ConflictError on a stale version. */
  update(input: ResourceInput, opts?: WriteOptions): Promise<Resource>;
  /** Creates or replaces; ConflictError on a stale expectedVersion. */
  upsert(input: ResourceInput, opts?: WriteOptions): Promise<Resource>;
  /** Deletes; NotFoundError when absent, ConflictError on a stale version. */
  delete(type: ResourceType, key: ResourceKey, opts?: WriteOptions): Promise<void>;
  /** The resource, or undefined. */
  get(type: ResourceType, key: ResourceKey): Promise<Resource | undefined>;
  /** Every resource of a type, sorted by mesh then name. */
  list(type: ResourceType, opts?: ListOptions): Promise<Resource[]>;
  /**
   * Optional read path for hot readers that never modify what they get (the xDS
   * reconciler): the same as list(type) but the array and resources may be the store's
   * own, deep-frozen, and the same objects on every call until the type is written.
   */
  listShared?(type: ResourceType): Promise<readonly Resource[]>;
  /**
   * Applies several writes atomically: all or nothing. Each op is checked as its
   * single-call counterpart would be.
   */
  transaction(ops: TransactionOp[]): Promise<Resource[]>;
  /** Subscribes to changes; returns an unsubscribe function. */
  watch(listener: (ev: StoreEvent) => void): () => void;
  /** Releases files and connections. */
  close(): Promise<void>;
}

/** One write inside a transaction. */
export type TransactionOp =
  | { op: 'create'; input: ResourceInput }
  | { op: 'update'; input: ResourceInput; expectedVersion?: string }
  | { op: 'upsert'; input: ResourceInput; expectedVersion?: string }
  | { op: 'delete'; type: ResourceType; key: ResourceKey; expectedVersion?: string };
