/** Contract of the VIP allocator: stable virtual IPs per service per mesh. */

/** The VIP table of one mesh: service name -> IPv4 address. */
export type VipTable = ReadonlyMap<string, string>;

/** Allocates and persists VIPs for every service of a mesh (local and seen through other zones' ingresses). */
export interface VipAllocator {
  /** The current table of a mesh (allocating for services not yet seen). */
  table(mesh: string): Promise<VipTable>;
  /** Subscribes to table changes of any mesh; returns an unsubscribe function. */
  onChange(listener: (mesh: string) => void): () => void;
}
