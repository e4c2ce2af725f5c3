/**
 * Where a process spent its CPU: reads a V8 `.cpuprofile` (node --cpu-prof) and sums
 * self time per function, so that a result can say why a number is what it is.
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

function frameKey(cf: ProfileNode['callFrame']): string {
  return `${cf.functionName || '(anonymous)'} (${path.basename(cf.url) || 'native'}${cf.lineNumber >= 0 ? `:${cf.lineNumber + 1}` : ''})`;
}

/**
 * A time window in microseconds of CLOCK_MONOTONIC. V8 stamps profile samples with the
 * same clock that `process.hrtime` reads on Linux, so another process on the host can
 * say "only what happened between these two moments" (monotonicMicros below).
 */
export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

/** Now, in microseconds of CLOCK_MONOTONIC (comparable with .cpuprofile sample times). */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Top functions by self time, as "pct% name (file:line)", idle excluded from the total.
 * With `window`, only samples taken inside it count (e.g. one phase of a benchmark).
 */
export function topSelfTime(file: string, limit = 15, window?: ProfileWindow): string[] {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (window && (t < window.fromUs || t > window.toUs)) return;
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') return;
    const dt = p.timeDeltas[i] ?? 0;
    const key = frameKey(cf);
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  if (total === 0) return [window ? '(no samples in the window)' : '(no samples)'];
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([k, v]) => `${((v / total) * 100).toFixed(1)}% ${k}`);
}

/**
 * Top functions by total time (the function and everything it called; a recursive
 * function counts once per sample), as "pct% name (file:line)" of the non-idle samples.
 * Shows which phase (generation, pushing, reading requests) a window's time went to.
 */
export function topTotalTime(file: string, limit = 15, window?: ProfileWindow): string[] {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map<string, number>();
  let all = 0;
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (window && (t < window.fromUs || t > window.toUs)) return;
    if (byId.get(id)!.callFrame.functionName === '(idle)') return;
    all += dt;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const key = frameKey(byId.get(cur)!.callFrame);
      if (key.startsWith('(root)') || seen.has(key)) continue;
      seen.add(key);
      totals.set(key, (totals.get(key) ?? 0) + dt);
    }
  });
  if (all === 0) return [window ? '(no samples in the window)' : '(no samples)'];
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([k, v]) => `${((v / all) * 100).toFixed(1)}% ${k}`);
}

/** The newest .cpuprofile in a directory, or undefined. */
export function newestProfile(dir: string): string | undefined {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f));
  return files.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
}

/** Share of the window's sampled time the process was not idle (0..1), or undefined without samples. */
export function busyShare(file: string, window: ProfileWindow): number | undefined {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  let t = p.startTime;
  let busy = 0;
  let all = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < window.fromUs || t > window.toUs) return;
    all += dt;
    if (!idle.has(id)) busy += dt;
  });
  return all > 0 ? busy / all : undefined;
}
