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

// kuma-dp's native DNS fast path (native/kuma_dns.c, N-API): compiled with the system C
// compiler against the headers of the Node that runs this build. Optional: without a
// compiler or headers kuma-dp answers DNS in JavaScript (agent/dns/native.ts says so at
// start-up), so the build goes on; KUMA_REQUIRE_NATIVE=1 makes a failure fatal.
const nativeOut = path.join(root, 'dist/native/kuma_dns.node');
const nativeSrc = path.join(root, 'native/kuma_dns.c');
let nativeFailure = '';
const nodeInclude = [process.env.KUMA_NODE_INCLUDE, path.resolve(path.dirname(process.execPath), '..', 'include', 'node')].find(
  (d) => d && fs.existsSync(path.join(d, 'node_api.h')),
);
if (process.platform !== 'linux') nativeFailure = `native DNS fast path is Linux-only (this is ${process.platform})`;
else if (!nodeInclude) nativeFailure = "Node's C headers (node_api.h) not found next to this Node; set KUMA_NODE_INCLUDE to their folder";
else {
  fs.mkdirSync(path.dirname(nativeOut), { recursive: true });
  const cc = process.env.CC || 'cc';
  const args = ['-O2', '-std=c11', '-Wall', '-Wextra', '-fPIC', '-shared', '-pthread', '-fvisibility=hidden', `-I${nodeInclude}`, '-o', nativeOut, nativeSrc];
  const r = spawnSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) nativeFailure = `${cc} failed (${r.error ? r.error.message : `exit ${r.status}`})`;
}
if (nativeFailure) {
  fs.rmSync(nativeOut, { force: true });
  console.error(`build: ${nativeFailure}; kuma-dp will answer DNS in JavaScript`);
  if (process.env.KUMA_REQUIRE_NATIVE === '1') process.exit(1);
}

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
