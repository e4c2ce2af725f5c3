/**
 * kuma-cp wiring of VIP allocation: one StoreVipAllocator per control plane, shared by
 * the DP server (xDS outbounds, /dns/vips) and the CP DNS server.
 */
import type { ComponentFactory, CpContext } from '../run';
import { StoreVipAllocator } from './store-vip-allocator';

const shared = new WeakMap<CpContext, StoreVipAllocator>();

/** The CP's allocator (created on first use for this context). */
export function sharedVipAllocator(ctx: CpContext): StoreVipAllocator {
  let v = shared.get(ctx);
  if (!v) {
    v = new StoreVipAllocator({ store: ctx.store, cidr: ctx.config.dnsServer.CIDR, log: ctx.log.child({ component: 'vips' }) });
    shared.set(ctx, v);
  }
  return v;
}

/** Starts the shared allocator; list it before the components that read VIPs. */
export const vipAllocatorFactory: ComponentFactory = (ctx) => sharedVipAllocator(ctx);
