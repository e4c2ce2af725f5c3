/** Writes the bootstrap where the engine reads it: mode 0600, since it can hold the token. */
import fs from 'node:fs';
import path from 'node:path';
import { yaml } from '../startup-modules';

/** Writes `<workDir>/bootstrap.yaml` atomically (temp file + rename) and returns its path. */
export function writeBootstrap(workDir: string, bootstrap: Record<string, any>): string {
  const file = path.join(workDir, 'bootstrap.yaml');
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, yaml().stringify(bootstrap, { aliasDuplicateObjects: false }), { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return file;
}
