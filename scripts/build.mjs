// Build: compile TypeScript to dist/, then turn every .proto the project needs into
// JSON descriptor bundles (dist/proto/envoy.json, its kuma-dp cut envoy-agent.json,
// dist/proto/kuma.json) so that
// CLIs load protos in tens of milliseconds instead of parsing hundreds of files.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');
const { includePaths } = require(path.join(root, 'proto/include-paths.js'));

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });

const manifest = JSON.parse(fs.readFileSync(path.join(root, 'proto/manifest.json'), 'utf8'));
const dirs = includePaths(root);
function load(files, keepCase) {
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const d of dirs) {
      const p = path.join(d, target);
      if (fs.existsSync(p)) return p;
    }
    return target;
  };
  r.loadSync(files, { keepCase });
  r.resolveAll();
  return r;
}
const out = path.join(root, 'dist/proto');
fs.mkdirSync(out, { recursive: true });
const envoyBundle = load(manifest.envoy, true).toJSON();
fs.writeFileSync(path.join(out, 'envoy.json'), JSON.stringify(envoyBundle));
// kuma-dp's cut: only the types its embedded engine decodes (proto/prune-bundle.ts,
// roots in proto/index.ts AGENT_ENVOY_ROOTS), so its Root costs a fraction of the heap.
const { pruneBundle } = require(path.join(root, 'dist/proto/prune-bundle.js'));
const { AGENT_ENVOY_ROOTS } = require(path.join(root, 'dist/proto/index.js'));
fs.writeFileSync(path.join(out, 'envoy-agent.json'), JSON.stringify(pruneBundle(envoyBundle, AGENT_ENVOY_ROOTS)));
fs.writeFileSync(path.join(out, 'kuma.json'), JSON.stringify(load(manifest.kuma, false).toJSON()));

// The bins are run directly; tsc does not keep the executable bit. npm links a
// package's bins for its dependents, never for the package itself, so `npx kuma-cp`
// in this checkout would go to the registry: link them into node_modules/.bin too.
const bins = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).bin ?? {};
const binDir = path.join(root, 'node_modules/.bin');
for (const [name, bin] of Object.entries(bins)) {
  const f = path.join(root, bin);
  if (!fs.existsSync(f)) continue;
  fs.chmodSync(f, 0o755);
  if (fs.existsSync(path.join(root, 'node_modules'))) {
    fs.mkdirSync(binDir, { recursive: true });
    const link = path.join(binDir, name);
    fs.rmSync(link, { force: true });
    fs.symlinkSync(path.relative(binDir, f), link);
  }
}

if (tsc.status !== 0) {
  console.error('build: TypeScript reported errors (see above)');
  process.exit(tsc.status ?? 1);
}
