/**
 * Shared set-up of the mesh e2e tests: the demo topology (scripts/demo/demo-mesh.ts)
 * started once per test file, stopped by pid in teardown (also on failure), plus small
 * helpers for policies applied on global.
 */
import { demoHarness, startDemoMesh, type DemoMesh } from '../../../scripts/demo/demo-mesh';
import { resourcePath } from '../../../scripts/harness/mesh';
import { eventually } from '../../../scripts/harness/wait';

/** Starts the demo mesh for a test file; teardown stops every process and removes the work dir. */
export async function startMeshForTest(t: { teardown(fn: () => unknown): void }, prefix: string): Promise<DemoMesh> {
  const log: string[] = [];
  // Apps keep Node's default 5 s keep-alive, as the demo's do: the CP-death scenarios pause
  // longer than that, which once made the embedded engine reuse a half-closed pooled socket
  // (regression test: test/integration/engine/idle-keepalive.test.ts).
  const mesh = demoHarness({ prefix, say: (l) => log.push(l), startTimeoutMs: 30_000 });
  t.teardown(() => mesh.stopAll());
  // If tap kills this file (timeout), the children go too: SIGTERM stops them, exit SIGKILLs the rest.
  mesh.installExitHooks();
  try {
    return await startDemoMesh(mesh);
  } catch (err) {
    throw new Error(`mesh set-up failed: ${(err as Error).message}\n${(err as { detail?: string }).detail ?? ''}\nprogress:\n${log.join('\n')}`);
  }
}

/** Applies a resource on global and waits until both zones hold it. */
export async function applyOnGlobal(d: DemoMesh, resource: Record<string, any>): Promise<void> {
  await d.mesh.apply(d.mesh.global!, resource);
  await d.mesh.waitSynced(resource);
}

/** Deletes a resource on global and waits until both zones dropped it. */
export async function deleteOnGlobal(d: DemoMesh, resource: Record<string, any>): Promise<void> {
  const p = resourcePath(resource);
  const r = await d.mesh.api(d.mesh.global!, 'DELETE', p);
  if (r.status !== 200 && r.status !== 204 && r.status !== 404) throw new Error(`DELETE ${p} on global: HTTP ${r.status} ${r.text}`);
  for (const z of d.mesh.zones.values()) {
    await eventually(`${p} gone from ${z.name}`, async () => (await d.mesh.api(z, 'GET', p)).status === 404, 15_000);
  }
}

/** Calls `host` through users' sidecar until `ok(counts)` holds for a batch of n (the xDS change arrived). */
export async function converge(d: DemoMesh, host: string, what: string, ok: (counts: Map<string, number>) => boolean, n = 10, p = '/', timeoutMs = 20_000): Promise<void> {
  await eventually(what, async () => ok((await d.users.tally(host, n, p, 3000)).counts), timeoutMs, 250);
}
