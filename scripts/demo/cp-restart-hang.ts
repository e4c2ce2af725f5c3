/**
 * Reproducer (not a test) of an embedded-engine hang: users calls invoices.mesh and
 * billing.mesh without pause for 6 s while the global CP is SIGKILLed; global restarts
 * and both zones come back online, a pause of over 5 s; then the next calls get no
 * answer. The trigger is the callee's app closing its idle keep-alive connection to its
 * sidecar (Node's default keepAliveTimeout, 5 s): with appKeepAliveMs=60000 no call hangs.
 * Prints the admin counters of users' and invoices' sidecars, and exits 1 when a call hung
 * (0 when none did, 2 when the mesh did not start).
 *
 *   node dist/scripts/demo/cp-restart-hang.js [rounds=2] [appKeepAliveMs=5000]
 */
import { httpRequest } from '../harness/http-client';
import { sleep } from '../harness/wait';
import { demoHarness, startDemoMesh } from './demo-mesh';

const INTERESTING = /active|rq_total|cx_total|rbac|handshake|none_healthy|connect_fail/;

async function counters(port: number | undefined): Promise<string> {
  if (!port) return '(no admin port)';
  const r = await httpRequest(`http://127.0.0.1:${port}/stats`, { timeoutMs: 2000 }).catch((err: Error) => ({ text: `admin error: ${err.message}` }));
  return r.text
    .split('\n')
    .filter((l) => INTERESTING.test(l) && !/: 0$/.test(l))
    .join('; ');
}

async function main(): Promise<number> {
  const rounds = Number(process.argv[2] ?? '2');
  const appKeepAliveMs = process.argv[3] ?? '5000';
  const mesh = demoHarness({ prefix: 'kuma-hang-', say: (l) => console.log(l), appEnv: { DEMO_KEEPALIVE_MS: appKeepAliveMs } });
  mesh.installExitHooks();
  let hung = 0;
  try {
    const d = await startDemoMesh(mesh);
    const users = d.sidecars.get('users-1')!;
    const invoices = d.sidecars.get('invoices-1')!;
    for (let round = 0; round < rounds; round++) {
      const t0 = Date.now();
      let ok = 0;
      const bad: string[] = [];
      const calls = (async () => {
        while (Date.now() - t0 < 6000) {
          for (const host of ['invoices.mesh', 'billing.mesh']) {
            const c = await d.users.call(host, '/', 5000);
            if (c.servedBy) ok++;
            else bad.push(`${Date.now() - t0} ms: ${host}: ${c.error ?? c.result?.status}`);
          }
        }
      })();
      await sleep(500);
      await mesh.killCp(mesh.global!);
      await calls;
      hung += bad.length;
      console.log(`round ${round}: ${ok} calls answered, ${bad.length} not: ${bad.slice(0, 3).join(' | ')}`);
      console.log(`  users sidecar:    ${await counters(users.adminPort)}`);
      console.log(`  invoices sidecar: ${await counters(invoices.adminPort)}`);
      await mesh.restartCp(mesh.global!);
      await mesh.waitZoneOnline('zone-1');
      await mesh.waitZoneOnline('zone-2');
      console.log('  global restarted, both zones online');
    }
  } catch (err) {
    console.error(`mesh did not start: ${(err as Error).message}`);
    await mesh.stopAll();
    return 2;
  }
  await mesh.stopAll();
  console.log(hung ? `${hung} calls got no answer` : 'no call hung');
  return hung ? 1 : 0;
}

main().then((code) => process.exit(code));
