/**
 * What the kernel says about a process (proc(5)): resident memory from
 * /proc/<pid>/status and CPU time from /proc/<pid>/stat. Reading these directly costs
 * nothing measurable, unlike polling tools that fork.
 */
import fs from 'node:fs';

/** Clock ticks per second (USER_HZ); 100 on every Linux we run on. */
const USER_HZ = 100;

/** Resident set size in bytes (VmRSS), or undefined when the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU time of a process in microseconds (utime + stime), or undefined when gone. */
export function cpuMicros(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return ((utime + stime) * 1e6) / USER_HZ;
  } catch {
    return undefined;
  }
}

/** Bytes to mebibytes, for tables. */
export function mib(bytes: number | undefined): number {
  return bytes === undefined ? NaN : bytes / (1024 * 1024);
}
