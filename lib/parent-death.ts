/**
 * A child that dies with its parent, however the parent dies (SIGKILL included, when no
 * handler of the parent runs): util-linux's `setpriv --pdeathsig <signal>` sets
 * prctl(PR_SET_PDEATHSIG), which survives exec, and then execs the command, so the pid
 * and argv the child has are its own. Linux only; elsewhere, or without setpriv, the
 * command runs as given.
 */
import fs from 'node:fs';

let setprivPath: string | null | undefined;

/** util-linux `setpriv` at its standard places (not looked up on PATH), when installed. */
export function findSetpriv(): string | undefined {
  if (setprivPath === undefined) {
    setprivPath = null;
    if (process.platform === 'linux') {
      for (const p of ['/usr/bin/setpriv', '/bin/setpriv']) {
        try {
          fs.accessSync(p, fs.constants.X_OK);
          setprivPath = p;
          break;
        } catch {
          // not here
        }
      }
    }
  }
  return setprivPath ?? undefined;
}

/** The file and arguments that run `command args` with `signal` sent to it when its parent dies. */
export function withParentDeathSignal(signal: 'KILL' | 'TERM', command: string, args: readonly string[]): [string, string[]] {
  const setpriv = findSetpriv();
  return setpriv ? [setpriv, ['--pdeathsig', signal, '--', command, ...args]] : [command, [...args]];
}
