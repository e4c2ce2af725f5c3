/** VIP allocation: the pure allocator, the service set, and the store-backed component. */
export { StoreVipAllocator, VIPS_CONFIG_NAME, DEFAULT_VIP_CIDR, type StoreVipAllocatorOptions } from './store-vip-allocator';
export { allocate, liveTables, parseCidr, parseState, ipToInt, intToIp, usableCount, usableOffset, DEFAULT_RELEASE_GRACE_MS, type VipEntry, type VipState, type AllocationResult } from './allocation';
export { servicesByMesh } from './services';
export type { VipAllocator, VipTable } from './types';
