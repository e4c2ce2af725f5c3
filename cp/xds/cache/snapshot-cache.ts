/**
 * The one producer API of the xDS server: `setSnapshot(node, snapshot)`. The cache owns
 * the latest snapshot per node id and tells the streams of that node (watchers) when it
 * changes; the streams decide what to send.
 */
import type { Snapshot } from './snapshot';

/** Called with the node's new snapshot. */
export type SnapshotListener = (snapshot: Snapshot) => void;

/** Latest snapshot per node id, with change notification. */
export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watchers = new Map<string, Set<SnapshotListener>>();

  /** Stores the node's snapshot and notifies its watchers (synchronously). */
  setSnapshot(nodeId: string, snapshot: Snapshot): void {
    this.snapshots.set(nodeId, snapshot);
    for (const w of [...(this.watchers.get(nodeId) ?? [])]) w(snapshot);
  }

  /** The node's snapshot, if one was set. */
  getSnapshot(nodeId: string): Snapshot | undefined {
    return this.snapshots.get(nodeId);
  }

  /** Forgets a node's snapshot (watchers keep what they have). */
  clearSnapshot(nodeId: string): void {
    this.snapshots.delete(nodeId);
  }

  /** Node ids with a snapshot, sorted. */
  nodeIds(): string[] {
    return [...this.snapshots.keys()].sort();
  }

  /** Subscribes to a node's snapshots; fires at once when one exists. Returns an unsubscribe function. */
  watch(nodeId: string, listener: SnapshotListener): () => void {
    let set = this.watchers.get(nodeId);
    if (!set) this.watchers.set(nodeId, (set = new Set()));
    set.add(listener);
    const cur = this.snapshots.get(nodeId);
    if (cur) listener(cur);
    return () => {
      set!.delete(listener);
      if (set!.size === 0) this.watchers.delete(nodeId);
    };
  }
}
