/** Reading `envoy --version` (Envoy prints `envoy  version: <sha>/<version>/<status>/<build>/<ssl>`). */
import { execFile } from 'node:child_process';

/** What kuma-dp reports as the Envoy version. */
export interface EnvoyVersion {
  version: string;
  build: string;
}

/** Parses Envoy's --version output; throws when it is not recognisable. */
export function parseEnvoyVersion(output: string): EnvoyVersion {
  const m = /version:\s*(\S+)/.exec(output);
  if (!m) throw new Error(`unrecognised "envoy --version" output: ${JSON.stringify(output.trim().slice(0, 200))}`);
  const build = m[1];
  const parts = build.split('/');
  const version = parts.find((p) => /^\d+\.\d+\.\d+/.test(p));
  if (!version) throw new Error(`no version number in "envoy --version" output: ${JSON.stringify(build)}`);
  return { version, build };
}

/** Runs `<binary> --version` with a timeout and parses it. */
export function readEnvoyVersion(binary: string, timeoutMs = 5000): Promise<EnvoyVersion> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['--version'], { timeout: timeoutMs, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`"${binary} --version" failed: ${err.message}`, { cause: err }));
      try {
        resolve(parseEnvoyVersion(`${stdout}\n${stderr}`));
      } catch (e) {
        reject(e);
      }
    });
  });
}
