/**
 * The pure core of every store's write path: checks a list of operations against the
 * current state (existence and optimistic-concurrency versions) and computes the new
 * rows, the events and the results, or throws NotFoundError / ConflictError. Stores
 * differ only in how they read the current state and apply the plan atomically.
 */
import { ConflictError, NotFoundError } from '../../lib/errors';
import { keyString, type Resource, type ResourceKey, type ResourceType } from '../../api/resource';
import type { StoreEvent, TransactionOp } from './store';

/** A row to write: the new resource, or null to delete. */
export interface PlannedWrite {
  type: ResourceType;
  key: ResourceKey;
  value: Resource | null;
}

/** What a transaction will do once committed. */
export interface TransactionPlan {
  /** Final state per touched key, in first-touch order (later ops on a key overwrite earlier ones). */
  writes: PlannedWrite[];
  /** Events to deliver after commit, in op order. */
  events: StoreEvent[];
  /** The written resources of create/update/upsert ops, in op order. */
  results: Resource[];
}

/** How the planner reads committed state and allocates versions. */
export interface PlanContext {
  /** The committed resource, or undefined. */
  current(type: ResourceType, key: ResourceKey): Resource | undefined;
  /** A fresh version, greater than every version handed out before. */
  nextVersion(): string;
  /** Timestamp for creation/modification times (ISO 8601). */
  now: string;
}

/** Identity of a resource within the store (type, mesh or '', name). */
export function storeKey(type: string, key: ResourceKey): string {
  return `${type}\u0000${key.mesh ?? ''}\u0000${key.name}`;
}

/** Plans `ops` as one atomic unit; throws the first NotFoundError or ConflictError. */
export function planTransaction(ops: readonly TransactionOp[], ctx: PlanContext): TransactionPlan {
  const staged = new Map<string, PlannedWrite>();
  const view = (type: ResourceType, key: ResourceKey): Resource | undefined => {
    const s = staged.get(storeKey(type, key));
    return s ? s.value ?? undefined : ctx.current(type, key);
  };
  const events: StoreEvent[] = [];
  const results: Resource[] = [];
  for (const op of ops) {
    if (op.op === 'delete') {
      const cur = view(op.type, op.key);
      if (!cur) throw new NotFoundError(`${keyString(op.type, op.key)} not found`);
      if (op.expectedVersion !== undefined && op.expectedVersion !== cur.meta.version) {
        throw new ConflictError(`${keyString(op.type, op.key)} was changed concurrently (version ${cur.meta.version}, expected ${op.expectedVersion})`);
      }
      staged.set(storeKey(op.type, op.key), { type: op.type, key: { mesh: op.key.mesh, name: op.key.name }, value: null });
      events.push({ kind: 'delete', resource: cur });
      continue;
    }
    const input = op.input;
    const cur = view(input.type, input);
    if (op.op === 'create' && cur) throw new ConflictError(`${keyString(input.type, input)} already exists`);
    if (op.op === 'update' && !cur) throw new NotFoundError(`${keyString(input.type, input)} not found`);
    if (op.op !== 'create' && op.expectedVersion !== undefined && cur?.meta.version !== op.expectedVersion) {
      throw new ConflictError(
        `${keyString(input.type, input)} was changed concurrently (version ${cur?.meta.version ?? 'none'}, expected ${op.expectedVersion})`,
      );
    }
    const next: Resource = {
      meta: {
        type: input.type,
        ...(input.mesh !== undefined ? { mesh: input.mesh } : {}),
        name: input.name,
        version: ctx.nextVersion(),
        creationTime: cur?.meta.creationTime ?? ctx.now,
        modificationTime: ctx.now,
        ...(input.labels && Object.keys(input.labels).length > 0 ? { labels: { ...input.labels } } : {}),
      },
      spec: structuredClone(input.spec),
    };
    staged.set(storeKey(input.type, input), { type: input.type, key: { mesh: input.mesh, name: input.name }, value: next });
    events.push({ kind: cur ? 'update' : 'create', resource: next });
    results.push(structuredClone(next));
  }
  return { writes: [...staged.values()], events, results };
}

/** Calls every listener with its own copy of each event; a throwing listener harms no one else. */
export function deliverEvents(listeners: Iterable<(ev: StoreEvent) => void>, events: readonly StoreEvent[]): void {
  for (const ev of events) {
    for (const l of listeners) {
      try {
        l({ kind: ev.kind, resource: structuredClone(ev.resource) });
      } catch {
        // A failing watcher must not break the writer or other watchers.
      }
    }
  }
}
