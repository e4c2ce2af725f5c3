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

/**
 * How long `envoy --version` may take, attempt by attempt. Envoy answers in milliseconds,
 * but a machine that is starting many things at once (a node coming up, a pod with several
 * containers) can stall a process start for seconds, and a timeout in auto mode would
 * quietly pick the embedded engine although Envoy is there. So a timed-out attempt is
 * tried once more with a longer limit; a run that fails any other way is not.
 */
export const VERSION_TIMEOUTS_MS: readonly number[] = [5_000, 20_000];

/** Runs `<binary> --version` with a timeout (again with the next one after a timeout) and parses it. */
export async function readEnvoyVersion(binary: string, timeoutsMs: readonly number[] = VERSION_TIMEOUTS_MS, onRetry?: (timeoutMs: number) => void): Promise<EnvoyVersion> {
  for (let i = 0; ; i++) {
    try {
      return await runVersion(binary, timeoutsMs[i]);
    } catch (err) {
      if (!(err instanceof VersionTimeout) || i + 1 >= timeoutsMs.length) throw err;
      onRetry?.(timeoutsMs[i]);
    }
  }
}

class VersionTimeout extends Error {}

function runVersion(binary: string, timeoutMs: number): Promise<EnvoyVersion> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary, ['--version'], { timeout: timeoutMs, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        // execFile kills the child with SIGTERM when the timeout passes.
        const timedOut = child.killed && err.signal === 'SIGTERM';
        const why = timedOut ? `no answer within ${timeoutMs} ms` : err.message;
        return reject(new (timedOut ? VersionTimeout : Error)(`"${binary} --version" failed: ${why}`, { cause: err }));
      }
      try {
        resolve(parseEnvoyVersion(`${stdout}\n${stderr}`));
      } catch (e) {
        reject(e);
      }
    });
  });
}
