// `npm test` runs tap over the compiled tests, passes its output through, and ends
// with the plain summary line `N passed, N failed` (counted in assertions) that CI
// and people read, keeping tap's exit code.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const tapPkg = require.resolve('tap/package.json');
const tapBin = path.join(path.dirname(tapPkg), require(tapPkg).bin.tap);
const child = spawn(process.execPath, [tapBin, ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] });
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
child.on('close', (code, signal) => {
  // tap closes with `# { total: N, pass: P, fail: F, ... }`.
  const m = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/.exec(tail);
  const total = m ? Number(m[1]) : 0;
  const pass = m?.[2] ? Number(m[2]) : 0;
  const fail = m?.[3] ? Number(m[3]) : total - pass;
  process.stdout.write(`\n${pass} passed, ${fail} failed\n`);
  process.exit(code ?? (signal ? 1 : 0));
});
