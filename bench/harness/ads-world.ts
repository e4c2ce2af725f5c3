/**
 * The simulated mesh the ADS benchmarks (ads-load, ads-change-cpu) register: the same
 * dataplanes in both, so their numbers compare.
 */
import type { ResourceInput } from '../../api/resource';

/**
 * The Dataplane of simulated proxy i: one inbound of service svc-(i % S), `outbounds`
 * explicit outbounds. Instance j = floor(i / S) of a service carries `shard: s<j>`.
 */
export function dataplane(i: number, services: number, outbounds: number): ResourceInput {
  const shard = `s${Math.floor(i / services)}`;
  return {
    type: 'Dataplane',
    mesh: 'default',
    name: `dp-${i}`,
    spec: {
      networking: {
        address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        inbound: [{ port: 8080, servicePort: 18080, tags: { 'kuma.io/service': `svc-${i % services}`, version: i % 10 === 0 ? 'v2' : 'v1', shard } }],
        outbound: Array.from({ length: outbounds }, (_, k) => ({ port: 30001 + k, tags: { 'kuma.io/service': `svc-${(i + 1 + k * 7) % services}` } })),
      },
    },
  };
}
