/**
 * `npm start`: brings a mesh up on loopback with embedded defaults (no Envoy, no
 * database server). Until every piece of the multi-zone demo carries traffic, it
 * starts a standalone control plane in a temporary work dir and says what to try.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManagedProcess } from './harness/managed-process';

const root = path.resolve(__dirname, '..');

async function main(): Promise<number> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kuma-demo-'));
  const cp = new ManagedProcess({
    name: 'kuma-cp',
    command: process.execPath,
    args: [path.join(root, 'cp/main.js'), 'run'],
    env: {
      ...process.env,
      KUMA_MODE: 'standalone',
      KUMA_GENERAL_WORK_DIR: workDir,
      KUMA_API_SERVER_HTTP_PORT: process.env.KUMA_API_SERVER_HTTP_PORT ?? '5681',
      KUMA_API_SERVER_HTTP_INTERFACE: '127.0.0.1',
      KUMA_DP_SERVER_PORT: '0',
      KUMA_DNS_SERVER_PORT: '0',
      KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT: '0',
    },
  });
  await cp.start();
  let port: number;
  try {
    port = await cp.waitForPort('API server listening', 20_000);
  } catch (err) {
    console.error(`kuma-cp did not start: ${(err as Error).message}`);
    for (const l of cp.log.slice(-10)) console.error(JSON.stringify(l));
    await cp.stop();
    return 1;
  }
  const kumactl = `node ${path.relative(process.cwd(), path.join(root, 'kumactl/main.js'))} --cp-address http://127.0.0.1:${port}`;
  console.log(`kuma-cp (standalone) is running; REST API on http://127.0.0.1:${port}, work dir ${workDir}`);
  console.log('Try:');
  console.log(`  ${kumactl} get meshes`);
  console.log(`  ${kumactl} apply -f examples/mesh.yaml`);
  console.log(`  ${kumactl} apply -f examples/dataplane.yaml`);
  console.log(`  ${kumactl} get dataplanes -o yaml`);
  console.log('Press Ctrl-C to stop.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await cp.stop();
  fs.rmSync(workDir, { recursive: true, force: true });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
