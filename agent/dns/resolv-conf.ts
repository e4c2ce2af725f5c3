/** Upstream resolvers from resolv.conf (resolv.conf(5): `nameserver ADDRESS` lines). Pure. */
import net from 'node:net';
import type { DnsUpstream } from '../cli/run-options';

/** Every valid `nameserver` of the text, in order, port 53. */
export function parseResolvConf(text: string): DnsUpstream[] {
  const out: DnsUpstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const host = m[1].replace(/%.*$/, ''); // drop an IPv6 zone id
    if (net.isIP(host) !== 0) out.push({ host, port: 53 });
  }
  return out;
}
