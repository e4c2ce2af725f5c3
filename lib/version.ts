/** The product version every binary reports (`version` commands, `GET /`, bootstrap requests). */
import fs from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

/** The `version` of this project's package.json (found upwards from source or dist/), or `unknown`. */
export function productVersion(): string {
  if (cached !== undefined) return cached;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'package.json');
    if (fs.existsSync(p)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(p, 'utf8'));
        if (pkg.name === 'kuma-ts' && typeof pkg.version === 'string') return (cached = pkg.version as string);
      } catch {
        // An unreadable package.json is not fatal: keep looking upwards.
      }
    }
    dir = path.dirname(dir);
  }
  return (cached = 'unknown');
}
