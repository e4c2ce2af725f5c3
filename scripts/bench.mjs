// `npm run bench [-- NAME [--key=value ...]]`: runs the compiled benchmarks in
// dist/bench/ one after another (or only NAME, e.g. `dns-throughput`), each in its own
// Node process, with the arguments given after the name. Each benchmark prints its
// table and writes bench/results/<name>-<timestamp>.{json,md}. Benchmarks are not tests:
// they take minutes and want a quiet machine.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const distBench = path.join(root, 'dist/bench');

if (!fs.existsSync(distBench)) {
  console.error('bench: dist/bench is missing; run `npm run build` first');
  process.exit(1);
}
const available = fs
  .readdirSync(distBench)
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3))
  .sort();

const [name, ...rest] = process.argv.slice(2);
if (name === '--list' || name === '-l') {
  console.log(available.join('\n'));
  process.exit(0);
}
const selected = name === undefined ? available : [name];
for (const b of selected) {
  if (!available.includes(b)) {
    console.error(`bench: unknown benchmark ${JSON.stringify(b)}; available: ${available.join(', ')}`);
    process.exit(64);
  }
}

let failed = 0;
for (const b of selected) {
  console.log(`\n=== ${b} ${rest.join(' ')}`.trimEnd());
  const r = spawnSync(process.execPath, [path.join(distBench, `${b}.js`), ...rest], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    failed++;
    console.error(`bench: ${b} failed (exit ${r.status ?? r.signal})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
