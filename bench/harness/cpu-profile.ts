/**
 * Where a process spent its CPU: reads a V8 `.cpuprofile` (node --cpu-prof) and sums
 * self time per function, so that a result can say why a number is what it is.
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Top functions by self time, as "pct% name (file:line)", idle excluded from the total. */
export function topSelfTime(file: string, limit = 15): string[] {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') return;
    const dt = p.timeDeltas[i] ?? 0;
    const key = `${cf.functionName || '(anonymous)'} (${path.basename(cf.url) || 'native'}${cf.lineNumber >= 0 ? `:${cf.lineNumber + 1}` : ''})`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([k, v]) => `${((v / total) * 100).toFixed(1)}% ${k}`);
}

/** The newest .cpuprofile in a directory, or undefined. */
export function newestProfile(dir: string): string | undefined {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f));
  return files.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
}
