/**
 * scripts/harness/managed-process.ts: a child started by a process that is then killed
 * with SIGKILL (no handler of it runs) still goes away, by its parent-death signal, and
 * the pid the harness reports is the command's own (setpriv execs it).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { findSetpriv } from '../../../lib/parent-death';

const modulePath = path.resolve(__dirname, '../../../scripts/harness/managed-process.js');
/** Running: exists and is not a zombie (an orphan that died waits for init to reap it). */
const alive = (pid: number) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('the child of a SIGKILLed parent is stopped', { skip: findSetpriv() ? false : 'no util-linux setpriv' }, async (t) => {
  // The parent: starts a long-sleeping node child through the harness, prints its pid, waits.
  const parent = spawn(
    process.execPath,
    [
      '-e',
      `
      const { ManagedProcess } = require(${JSON.stringify(modulePath)});
      const p = new ManagedProcess({ name: 'sleeper', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1e6); console.log("up")'] });
      p.start().then(() => p.waitFor((l) => l.msg === 'up')).then(() => console.log(p.pid));
      setInterval(() => {}, 1e6);
      `,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => {
    if (alive(parent.pid!)) parent.kill('SIGKILL');
  });
  const childPid = await new Promise<number>((resolve, reject) => {
    let out = '';
    parent.stdout!.on('data', (d) => {
      out += d;
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    parent.on('exit', () => reject(new Error('parent exited early')));
  });
  t.teardown(() => {
    if (alive(childPid)) process.kill(childPid, 'SIGKILL');
  });
  const cmdline = fs.readFileSync(`/proc/${childPid}/cmdline`, 'utf8').split('\0');
  t.equal(cmdline[0], process.execPath, 'the reported pid runs the command itself');
  t.ok(alive(childPid), 'child running');
  parent.kill('SIGKILL');
  for (let i = 0; i < 100 && alive(childPid); i++) await sleep(50);
  t.notOk(alive(childPid), 'child gone after its parent was killed');
});
