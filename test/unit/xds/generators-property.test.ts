/**
 * Property test over random meshes (seeded, reproducible): for every proxy of every
 * kind, the generated resources encode with Envoy's protos, pass every PGV rule, form a
 * consistent snapshot, are byte-identical when generated twice, and every
 * ClusterLoadAssignment has priorities contiguous from 0.
 */
import t, { type Test } from 'tap';
import type { Resource, ResourceType } from '../../../api/resource';
import { buildMeshSnapshots, type StoreContents } from '../../../cp/xds/generators/mesh-snapshot';
import { buildProxyContext, type ProxyIdentity } from '../../../cp/xds/generators/proxy-context';
import { generateResources } from '../../../cp/xds/generators/profiles';
import { Snapshot, consistent, type TypeCache } from '../../../cp/xds/cache/snapshot';
import { deepFreeze } from '../../../cp/xds/generators/types';
import { encodeProtoJson, fromProtoJson } from '../../../proto/json';
import { lookupType } from '../../../proto/index';
import { validateAny } from '../../../proto/validate';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const res = (type: ResourceType, name: string, spec: Record<string, any>, mesh?: string): Resource => ({
  meta: { type, mesh, name, version: '1', creationTime: '', modificationTime: '' },
  spec,
});

function randomWorld(seed: number): { contents: StoreContents; zone: string } {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const zone = pick(['', 'zone-1']);
  const meshes = ['default', 'm2'].map((m) =>
    res('Mesh', m, {
      ...(r() < 0.6 ? { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } } : {}),
      ...(r() < 0.5 ? { routing: { localityAwareLoadBalancing: true } } : {}),
    }),
  );
  const services = ['web', 'backend', 'db', 'billing', 'grpc-api'];
  const dataplanes: Resource[] = [];
  const vips: Record<string, Record<string, string>> = {};
  let ip = 1;
  for (const m of meshes) {
    vips[m.meta.name] = {};
    services.forEach((s, i) => (vips[m.meta.name][s] = `240.0.${meshes.indexOf(m)}.${i + 1}`));
    const n = 2 + Math.floor(r() * 6);
    for (let i = 0; i < n; i++) {
      const svc = pick(services);
      const tags: Record<string, string> = { 'kuma.io/service': svc, version: pick(['v1', 'v2', 'v3']) };
      const proto = pick(['tcp', 'http', 'http2', 'grpc', undefined]);
      if (proto) tags['kuma.io/protocol'] = proto;
      const inbound: Record<string, any>[] = [{ port: 8000 + i, servicePort: r() < 0.5 ? 9000 + i : undefined, tags }];
      if (r() < 0.2) inbound.push({ port: 8500 + i, tags: { 'kuma.io/service': pick(services) }, health: { ready: r() < 0.5 } });
      const networking: Record<string, any> = { address: `10.0.0.${ip++}`, inbound };
      // Ports repeat across dataplanes, so replicas with the same outbounds (one shared outbound set) occur.
      if (r() < 0.5) networking.outbound = [{ port: 10000 + (i % 2), tags: { 'kuma.io/service': pick(services) } }];
      if (r() < 0.3) networking.transparentProxying = { redirectPortInbound: 15006, redirectPortOutbound: 15001, reachableServices: r() < 0.5 ? [pick(services)] : [] };
      dataplanes.push(res('Dataplane', `dp-${i}`, networking && { networking }, m.meta.name));
    }
  }
  const trafficRoutes: Resource[] = [];
  const trafficPermissions: Resource[] = [];
  for (const m of meshes) {
    for (let i = 0; i < 3; i++) {
      const dst = pick([...services, '*']);
      const split = Array.from({ length: 1 + Math.floor(r() * 3) }, () => ({ weight: Math.floor(r() * 100), destination: { 'kuma.io/service': dst === '*' ? '*' : dst, ...(r() < 0.5 ? { version: pick(['v1', 'v2', 'v9']) } : {}), ...(r() < 0.3 ? { 'kuma.io/zone': pick(['zone-1', 'zone-2']) } : {}) } }));
      const conf: Record<string, any> = { split };
      if (r() < 0.4) conf.http = [{ match: { path: pick([{ prefix: '/api' }, { exact: '/x' }, { regex: '^/r.*' }]), method: { exact: 'GET' }, headers: { 'x-a': { prefix: 'b' } } }, destination: { 'kuma.io/service': dst === '*' ? '*' : dst, version: 'v2' } }];
      if (r() < 0.3) conf.loadBalancer = pick([{ leastRequest: { choiceCount: 2 } }, { random: {} }, { roundRobin: {} }]);
      trafficRoutes.push(res('TrafficRoute', `tr-${i}`, { sources: [{ match: { 'kuma.io/service': pick([...services, '*']), ...(r() < 0.4 ? { version: pick(['v1', 'v2', '*']) } : {}) } }], destinations: [{ match: { 'kuma.io/service': dst } }], conf }, m.meta.name));
      trafficPermissions.push(res('TrafficPermission', `tp-${i}`, { sources: [{ match: { 'kuma.io/service': pick([...services, '*']), ...(r() < 0.3 ? { version: 'v1' } : {}) } }], destinations: [{ match: { 'kuma.io/service': pick([...services, '*']) } }] }, m.meta.name));
    }
  }
  const zoneIngresses = [
    res('ZoneIngress', 'ingress-local', { zone: zone || undefined, networking: { address: '10.9.0.1', port: 10001 } }),
    res('ZoneIngress', 'ingress-z2', {
      zone: 'zone-2',
      networking: { address: '10.9.0.2', advertisedAddress: '192.0.2.2', port: 10001, advertisedPort: 30001 },
      availableServices: services.map((s) => ({ mesh: pick(['default', 'm2']), instances: 1 + Math.floor(r() * 4), tags: { 'kuma.io/service': s, 'kuma.io/zone': 'zone-2', version: pick(['v1', 'v2']) } })),
    }),
  ];
  return { zone, contents: { meshes, dataplanes, zoneIngresses, trafficRoutes, trafficPermissions, vips } };
}

const identity = { certPem: '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n', keyPem: '-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n', caPem: '-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n' };

/** Every proxy of a world: its dataplanes (DNS on or off), a proxyless client per mesh, and optionally its ingresses. */
/** Fails for each type whose resources `warm` does not encode byte for byte as `fresh` does; returns the number of types compared. */
function sameEncodings(t: Test, warm: Snapshot, fresh: Snapshot, who: string, how: string): number {
  let n = 0;
  for (const [type, m] of fresh.resources) {
    const w = warm.of(type);
    const same = w.size === m.size && [...m].every(([name, r]) => Buffer.from(w.get(name)?.any.value ?? []).equals(Buffer.from(r.any.value)));
    if (!same) t.fail(`${who}: ${type} differs between ${how} and fresh generation`);
    n++;
  }
  return n;
}

function proxiesOf(contents: StoreContents, dnsEnabled: boolean, ingresses: boolean): ProxyIdentity[] {
  return [
    ...contents.dataplanes.map((d) => ({ kind: 'dataplane' as const, mesh: d.meta.mesh!, name: d.meta.name, resource: d, dnsEnabled })),
    ...contents.meshes.map((m) => ({ kind: 'proxyless' as const, mesh: m.meta.name, name: 'client', resource: undefined, dnsEnabled: false })),
    ...(ingresses ? contents.zoneIngresses.map((i) => ({ kind: 'ingress' as const, mesh: '', name: i.meta.name, resource: i, dnsEnabled: false })) : []),
  ];
}

t.test('random worlds', async (t) => {
  let proxies = 0;
  let resources = 0;
  for (let seed = 1; seed <= 25; seed++) {
    const { contents, zone } = randomWorld(seed);
    const meshes = buildMeshSnapshots(contents, zone);
    const cp = { zone, vipPort: 80 };
    const targets = proxiesOf(contents, seed % 2 === 0, true);
    for (const p of targets) {
      const ctx = buildProxyContext(meshes, p, cp, identity);
      const snap = Snapshot.fromResourceSet(generateResources(ctx));
      const again = Snapshot.fromResourceSet(generateResources(buildProxyContext(meshes, p, cp, identity)));
      const where = `seed ${seed} ${p.kind} ${p.mesh}.${p.name}`;
      const problems = consistent(snap);
      if (problems.length) t.fail(`${where}: inconsistent: ${problems.join('; ')}`);
      for (const [type, m] of snap.resources) {
        if (again.version(type) !== snap.version(type)) t.fail(`${where}: ${type} not deterministic`);
        for (const r of m.values()) {
          if (r.json.cluster_name) {
            const prios = [...new Set((r.json.endpoints ?? []).map((l: any) => l.priority ?? 0))].sort() as number[];
            if (prios.some((p, i) => p !== i)) t.fail(`${where}: ${r.name}: priorities not contiguous from 0: ${prios}`);
          }
          const v = validateAny(r.any);
          if (v.length) t.fail(`${where}: ${r.name}: ${JSON.stringify(v)}`);
          resources++;
        }
      }
      proxies++;
    }
  }
  t.ok(proxies > 200, `${proxies} proxies generated`);
  t.ok(resources > 2000, `${resources} resources encoded and validated`);
});

// Destinations, and whole outbound sets, are built once per mesh snapshot and shared by
// every proxy that calls them (outbound.ts); whole types of shared resources are built
// once per regeneration (snapshot.ts). If a memo key missed an input (the route a proxy's
// own tags select, the zone, TLS for proxyless, the tags routes select sources by), a
// proxy would get another proxy's config: compare each proxy's output from the warm,
// shared snapshot with its output from a fresh one.
t.test('shared destinations equal per-proxy generation', async (t) => {
  let compared = 0;
  for (let seed = 1; seed <= 25; seed++) {
    const { contents, zone } = randomWorld(seed);
    const shared = buildMeshSnapshots(contents, zone);
    const cp = { zone, vipPort: 80 };
    const targets = proxiesOf(contents, seed % 2 === 1, false);
    // Warm the shared memo in reverse order, so the first proxy compared reuses others' entries.
    // Types made of shared resources only are taken from one cache, as in a regeneration.
    const types: TypeCache = new Map();
    for (const p of [...targets].reverse()) Snapshot.fromResourceSet(generateResources(buildProxyContext(shared, p, cp, identity)), undefined, types);
    for (const p of targets) {
      const warm = Snapshot.fromResourceSet(generateResources(buildProxyContext(shared, p, cp, identity)), undefined, types);
      const fresh = Snapshot.fromResourceSet(generateResources(buildProxyContext(buildMeshSnapshots(contents, zone), p, cp, identity)));
      compared += sameEncodings(t, warm, fresh, `seed ${seed} ${p.kind} ${p.mesh}.${p.name}`, 'shared');
    }
  }
  t.ok(compared > 1000, `${compared} resource types compared`);
});

// With the store's deep-frozen resources, a Dataplane's inbound resources and outbound key
// are reused from earlier regenerations (inbound.ts, outbound.ts). Warm that memo with one
// world, then change everything around the same Dataplane objects (another world's meshes,
// with mTLS toggled, its routes and permissions): each proxy must get exactly what a fresh
// generation from unfrozen copies (never memoized) gives.
t.test('reuse across regenerations equals fresh generation', async (t) => {
  let compared = 0;
  for (let seed = 1; seed <= 25; seed++) {
    const { contents, zone } = randomWorld(seed);
    const other = randomWorld(seed + 1000).contents;
    deepFreeze(contents);
    const cp = { zone, vipPort: 80 };
    const targets = proxiesOf(contents, seed % 2 === 1, false).filter((p) => p.kind === 'dataplane');
    for (const p of targets) Snapshot.fromResourceSet(generateResources(buildProxyContext(buildMeshSnapshots(contents, zone), p, cp, identity)));
    const changed: StoreContents = deepFreeze({ ...contents, meshes: other.meshes, trafficRoutes: other.trafficRoutes, trafficPermissions: other.trafficPermissions });
    for (const world of [changed, contents]) {
      const unfrozen = structuredClone(world);
      const meshes = buildMeshSnapshots(world, zone);
      const freshMeshes = buildMeshSnapshots(unfrozen, zone);
      for (const p of targets) {
        const warm = Snapshot.fromResourceSet(generateResources(buildProxyContext(meshes, p, cp, identity)));
        const copy = { ...p, resource: unfrozen.dataplanes.find((d) => d.meta.mesh === p.mesh && d.meta.name === p.name) };
        const fresh = Snapshot.fromResourceSet(generateResources(buildProxyContext(freshMeshes, copy, cp, identity)));
        compared += sameEncodings(t, warm, fresh, `seed ${seed} ${p.mesh}.${p.name}`, 'reused');
      }
    }
  }
  t.ok(compared > 1000, `${compared} resource types compared`);
});

// encodeProtoJson hands its checked plain object straight to protobufjs's encoder; the
// bytes must be those of the message protobufjs's own fromObject builds (fromProtoJson).
t.test('every generated resource encodes to the bytes of its protobufjs message', async (t) => {
  let compared = 0;
  for (let seed = 1; seed <= 25; seed++) {
    const { contents, zone } = randomWorld(seed);
    const meshes = buildMeshSnapshots(contents, zone);
    for (const p of proxiesOf(contents, seed % 2 === 0, true)) {
      const set = generateResources(buildProxyContext(meshes, p, { zone, vipPort: 80 }, identity));
      for (const [type, m] of set) {
        for (const [name, json] of m) {
          const viaMessage = lookupType(type).encode(fromProtoJson(type, json)).finish();
          if (!Buffer.from(encodeProtoJson(type, json)).equals(Buffer.from(viaMessage))) t.fail(`seed ${seed} ${type} ${name}: bytes differ`);
          compared++;
        }
      }
    }
  }
  t.ok(compared > 1000, `${compared} resources compared`);
});
