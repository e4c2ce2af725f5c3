/**
 * Names of generated resources. Kuma's conventions where it has them, so that Kuma
 * users' dashboards and habits carry over: `inbound:<ip>:<port>`,
 * `outbound:<ip>:<port>`, `localhost:<port>`, `<service>` and `<service>-<hash>`.
 */
import crypto from 'node:crypto';
import { SERVICE_TAG, type Tags } from '../../../lib/naming/tags';

/** Listener of an inbound (or of an ingress). */
export function inboundListenerName(address: string, port: number): string {
  return `inbound:${address}:${port}`;
}

/** Listener of an outbound (explicit or VIP). */
export function outboundListenerName(address: string, port: number): string {
  return `outbound:${address}:${port}`;
}

/** Cluster that reaches the local application behind an inbound. */
export function localClusterName(port: number): string {
  return `localhost:${port}`;
}

/** Route configuration of a destination service (shared by all its outbound listeners). */
export function outboundRouteName(service: string): string {
  return `outbound:${service}`;
}

/** Route configuration of an HTTP inbound. */
export function inboundRouteName(service: string): string {
  return `inbound:${service}`;
}

/** Tags of a subset other than the service tag, sorted by key. */
export function subsetExtraTags(tags: Tags): [string, string][] {
  return Object.entries(tags)
    .filter(([k]) => k !== SERVICE_TAG)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Cluster of a service subset: `<service>` alone, or `<service>-<hash of the other tags>`. */
export function subsetClusterName(service: string, tags: Tags): string {
  const extra = subsetExtraTags(tags);
  if (extra.length === 0) return service;
  const hash = crypto.createHash('sha256').update(JSON.stringify(extra)).digest('hex').slice(0, 16);
  return `${service}-${hash}`;
}

/** A stat prefix Envoy accepts and that keeps stat names readable (`.` and `:` separate stat segments). */
export function statPrefix(name: string): string {
  return name.replace(/[^a-zA-Z0-9_-]/g, '_');
}
