/**
 * kuma-cp wiring of the CP DNS server (standalone and zone): KUMA_DNS_SERVER_PORT on the
 * API server's interface (KUMA_API_SERVER_HTTP_INTERFACE), so a CP kept on loopback keeps
 * its DNS there too.
 */
import type { ComponentFactory } from '../run';
import { sharedVipAllocator } from '../vips/factory';
import { CpDnsServer } from './dns-server';

/** The DNS server over the CP's shared VIP allocator. */
export const cpDnsFactory: ComponentFactory = (ctx) =>
  new CpDnsServer({
    vips: sharedVipAllocator(ctx),
    port: ctx.config.dnsServer.port,
    address: ctx.config.apiServer.http.interface,
    log: ctx.log.child({ component: 'dns-server' }),
  });
