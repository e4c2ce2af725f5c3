/**
 * The demo's topology on a MeshHarness: global, zone-1 and zone-2 with an ingress
 * each, `users` (DNS enabled: on loopback the one sidecar of this host that binds the
 * VIPs; in netns mode every sidecar has its own namespace, DNS and VIPs) and `invoices` in
 * zone-1, `billing` in zone-2. Shared by `npm start` and the e2e tests.
 */
import { MeshHarness, type App, type Dp, type MeshOptions } from '../harness/mesh';
import { MeshClient } from '../harness/mesh-client';
import { eventually } from '../harness/wait';

/** Mesh `default` with the builtin CA: cross-zone traffic through ingresses needs mTLS (SNI). */
export const MESH_DEFAULT = {
  type: 'Mesh',
  name: 'default',
  mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] },
};

/** Kuma's default policies of mesh `default` (created with the mesh; applied here only if absent). */
export const DEFAULT_POLICIES = [
  {
    type: 'TrafficRoute',
    mesh: 'default',
    name: 'route-all-default',
    sources: [{ match: { 'kuma.io/service': '*' } }],
    destinations: [{ match: { 'kuma.io/service': '*' } }],
    conf: { destination: { 'kuma.io/service': '*' } },
  },
  {
    type: 'TrafficPermission',
    mesh: 'default',
    name: 'allow-all-default',
    sources: [{ match: { 'kuma.io/service': '*' } }],
    destinations: [{ match: { 'kuma.io/service': '*' } }],
  },
];

/** A running demo mesh. */
export interface DemoMesh {
  mesh: MeshHarness;
  ingress: Map<string, Dp>;
  sidecars: Map<string, Dp>;
  apps: Map<string, App>;
  /** The `users` app's client (DNS through users' kuma-dp, calls to VIP:vipPort). */
  users: MeshClient;
}

/** Which stage of the set-up is running (for progress lines and failure reports). */
export type SetupStage = 'control planes' | 'mesh and policies' | 'ingresses' | 'services';

/**
 * Starts an app and its sidecar. DNS (and with it the VIP listeners) is on where asked, and
 * by default in netns mode, where every workload has a namespace of its own and so its own
 * 127.64.0.0/10 to bind, as pods and VMs do; on one loopback only one sidecar may have them.
 */
export async function startService(mesh: MeshHarness, d: Pick<DemoMesh, 'sidecars' | 'apps'>, zone: string, service: string, instance: string, opts: { dns?: boolean; tags?: Record<string, string> } = {}): Promise<Dp> {
  const app = await mesh.startApp(service, zone, instance);
  d.apps.set(`${service}-${instance}`, app);
  const dns = opts.dns ?? (mesh.netns ? true : undefined);
  const dp = await mesh.startSidecar({ zone, name: `${service}-${instance}`, service, appPort: app.port, dns, tags: opts.tags });
  d.sidecars.set(`${service}-${instance}`, dp);
  return dp;
}

/** A harness for the demo topology (nothing runs until startDemoMesh). */
export function demoHarness(opts: MeshOptions): MeshHarness {
  return new MeshHarness({ prefix: 'kuma-demo-', ...opts });
}

/**
 * Brings the demo topology up on `mesh`; `stage` is told where it is so that a failure
 * names its stage. On failure the caller stops the harness (it owns it).
 */
export async function startDemoMesh(mesh: MeshHarness, stage: (s: SetupStage) => void = () => {}): Promise<DemoMesh> {
  const d = { mesh, ingress: new Map<string, Dp>(), sidecars: new Map<string, Dp>(), apps: new Map<string, App>() } as DemoMesh;
  stage('control planes');
  const global = await mesh.startGlobal();
  // Independent processes start in parallel: set-up time is mostly process start-up.
  await Promise.all(['zone-1', 'zone-2'].map((z) => mesh.startZone(z)));
  await mesh.waitZoneOnline('zone-1');
  await mesh.waitZoneOnline('zone-2');

  stage('mesh and policies');
  await mesh.apply(global, MESH_DEFAULT);
  for (const p of DEFAULT_POLICIES) {
    const r = await mesh.api(global, 'GET', `/meshes/default/${p.type === 'TrafficRoute' ? 'traffic-routes' : 'traffic-permissions'}/${p.name}`);
    if (r.status === 404) await mesh.apply(global, p);
  }
  await mesh.waitSynced(MESH_DEFAULT);

  stage('ingresses');
  await Promise.all(['zone-1', 'zone-2'].map(async (zone) => d.ingress.set(zone, await mesh.startIngress(zone))));

  stage('services');
  const [, , users] = await Promise.all([
    startService(mesh, d, 'zone-1', 'invoices', '1'),
    startService(mesh, d, 'zone-2', 'billing', '1'),
    startService(mesh, d, 'zone-1', 'users', '1', { dns: true }),
  ]);
  if (!users.dnsPort) throw new Error('users sidecar logged no "DNS server listening" port');
  // In netns mode its queries and calls start in users' own namespace, beside its sidecar.
  d.users = mesh.clientFor(users);
  // Cross-zone reachability needs KDS to carry zone-2's ingress (with billing available) to zone-1.
  await eventually(
    'zone-1 to know zone-2 ingress with billing available',
    async () => {
      const r = await mesh.api(mesh.zoneCp('zone-1'), 'GET', '/zoneingresses');
      return (r.json?.items ?? []).some((i: any) => (i.availableServices ?? []).some((s: any) => s.tags?.['kuma.io/service'] === 'billing'));
    },
    20_000,
  );
  // Then the VIPs: zone-1's allocator gives billing one on its next pass, and users' kuma-dp
  // fetches the table on its own tick. A step must not race that.
  for (const name of ['invoices.mesh', 'billing.mesh']) {
    await eventually(`users' DNS to resolve ${name}`, async () => !!(await d.users.resolve(name, true).catch(() => '')), 20_000);
  }
  return d;
}
