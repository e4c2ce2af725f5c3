/**
 * The client side of the demo's `users` app: it resolves `<service>.mesh` through a
 * sidecar's kuma-dp DNS server (a dns.Resolver pointed at 127.0.0.1:<dns port>, as an
 * app whose resolv.conf points at kuma-dp would) and calls VIP:vipPort, where that
 * sidecar's outbound listener takes over. Nothing here knows a real port of a service.
 */
import { Resolver } from 'node:dns/promises';
import { httpRequest, type HttpResult } from './http-client';

/** One call through the mesh. */
export interface MeshCall {
  host: string;
  vip: string;
  result?: HttpResult;
  error?: string;
  /** `<service>/<zone>/<instance>` of whoever answered. */
  servedBy?: string;
  ms: number;
}

/** Calls `<service>.mesh` the way an app behind a DNS-enabled sidecar does. */
export class MeshClient {
  private readonly resolver: Resolver;
  private readonly cache = new Map<string, string>();

  constructor(dnsPort: number, private readonly vipPort: number) {
    this.resolver = new Resolver({ timeout: 2000, tries: 2 });
    this.resolver.setServers([`127.0.0.1:${dnsPort}`]);
  }

  /** The VIP of a `.mesh` name (A record from kuma-dp's DNS); cached for this client unless fresh is set. */
  async resolve(host: string, fresh = false): Promise<string> {
    if (!fresh && this.cache.has(host)) return this.cache.get(host)!;
    const addrs = await this.resolver.resolve4(host);
    if (addrs.length === 0) throw new Error(`${host}: no A record`);
    this.cache.set(host, addrs[0]);
    return addrs[0];
  }

  /** One GET http://<host><path> via the VIP; never throws (errors are in the result). */
  async call(host: string, p = '/', timeoutMs = 5000): Promise<MeshCall> {
    const started = Date.now();
    let vip = '';
    try {
      vip = await this.resolve(host);
      const result = await httpRequest(`http://${host}:${this.vipPort}${p}`, { connectHost: vip, connectPort: this.vipPort, timeoutMs });
      const servedBy = typeof result.headers['x-served-by'] === 'string' ? result.headers['x-served-by'] : undefined;
      return { host, vip, result, servedBy, ms: Date.now() - started };
    } catch (err) {
      return { host, vip, error: (err as Error).message, ms: Date.now() - started };
    }
  }

  /** n sequential calls; counts answers by `servedBy` (failures under `error: <message>`). */
  async tally(host: string, n: number, p = '/', timeoutMs = 5000): Promise<{ counts: Map<string, number>; failures: MeshCall[]; calls: MeshCall[] }> {
    const counts = new Map<string, number>();
    const failures: MeshCall[] = [];
    const calls: MeshCall[] = [];
    for (let i = 0; i < n; i++) {
      const c = await this.call(host, p, timeoutMs);
      calls.push(c);
      const ok = c.result?.status === 200 && c.servedBy;
      if (!ok) failures.push(c);
      const key = ok ? c.servedBy! : `error: ${c.error ?? `HTTP ${c.result?.status}`}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return { counts, failures, calls };
  }
}

/** `a: 3, b: 4` with keys sorted. */
export function formatCounts(counts: Map<string, number>): string {
  return [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
}
