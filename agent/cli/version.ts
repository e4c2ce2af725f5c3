/** kuma-dp's own version, read once from the package manifest. */
import fs from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

/** The package version (package.json `version`), or `unknown` when not found. */
export function kumaDpVersion(): string {
  if (cached !== undefined) return cached;
  // Works from both the sources and dist/: walk up to the project's package.json.
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'package.json');
    if (fs.existsSync(p)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(p, 'utf8'));
        if (pkg.name === 'kuma-ts') return (cached = String(pkg.version));
      } catch {
        // keep walking
      }
    }
    dir = path.dirname(dir);
  }
  return (cached = 'unknown');
}
