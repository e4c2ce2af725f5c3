/**
 * The pure gate every xDS update passes before it is applied: translate the whole
 * candidate resource set, collect every problem, and hand back either the model or the
 * problems (which become the NACK's error_detail, verbatim). Cross-resource checks
 * (listener addresses unique, secrets well formed) happen here too.
 */
import { Checker } from './checker';
import { translateAssignment, translateCluster } from './cluster';
import { translateListener } from './listener';
import type { ConfigModel } from './model';
import { translateRouteConfig } from './route';
import { translateSecret } from './secret';

/** Decoded resources by name, per xDS type (Envoy field names, as unpackAny returns them). */
export interface RawResources {
  listeners: Map<string, any>;
  clusters: Map<string, any>;
  assignments: Map<string, any>;
  routes: Map<string, any>;
  secrets: Map<string, any>;
}

/** Result of `validate`: a model when there are no problems. */
export type ValidateResult = { ok: true; config: ConfigModel } | { ok: false; problems: string[] };

function sortedEntries(m: Map<string, any>): [string, any][] {
  return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Translates and checks a whole resource set. Pure. */
export function validate(raw: RawResources): ValidateResult {
  const problems: string[] = [];
  const config: ConfigModel = { listeners: new Map(), clusters: new Map(), assignments: new Map(), routes: new Map(), secrets: new Map() };
  const run = <T>(label: string, fn: (c: Checker) => T | undefined): T | undefined => {
    const c = new Checker(label);
    let out: T | undefined;
    try {
      out = fn(c);
    } catch (err) {
      // A translator must never crash the engine on hostile input.
      c.add('', `cannot be read: ${(err as Error).message}`);
    }
    problems.push(...c.problems);
    return c.problems.length ? undefined : out;
  };
  for (const [name, s] of sortedEntries(raw.secrets)) {
    const m = run(`secret "${name}"`, (c) => translateSecret(c, s));
    if (m) config.secrets.set(name, m);
  }
  for (const [name, r] of sortedEntries(raw.routes)) {
    const m = run(`route_configuration "${name}"`, (c) => translateRouteConfig(c, r, ''));
    if (m) config.routes.set(name, m);
  }
  for (const [name, a] of sortedEntries(raw.assignments)) {
    const m = run(`cluster_load_assignment "${name}"`, (c) => translateAssignment(c, a, ''));
    if (m) config.assignments.set(name, m);
  }
  for (const [name, cl] of sortedEntries(raw.clusters)) {
    const m = run(`cluster "${name}"`, (c) => translateCluster(c, cl));
    if (m) config.clusters.set(name, m);
  }
  const byAddress = new Map<string, string>();
  for (const [name, l] of sortedEntries(raw.listeners)) {
    const m = run(`listener "${name}"`, (c) => {
      const x = translateListener(c, l);
      if (x && x.address.port !== 0) {
        const key = `${x.address.host}:${x.address.port}`;
        const other = byAddress.get(key);
        if (other) c.add('address', `${key} is already used by listener "${other}"`);
        byAddress.set(key, name);
      }
      return x;
    });
    if (m) config.listeners.set(name, m);
  }
  return problems.length ? { ok: false, problems } : { ok: true, config };
}

/** Names the applied listeners and clusters need from EDS, RDS and SDS. Pure. */
export function referencedNames(raw: RawResources): { eds: string[]; rds: string[]; sds: string[] } {
  const eds = new Set<string>();
  const rds = new Set<string>();
  const sds = new Set<string>();
  const walk = (o: any, depth: number): void => {
    if (!o || typeof o !== 'object' || depth > 64) return;
    if (Array.isArray(o)) {
      for (const x of o) walk(x, depth + 1);
      return;
    }
    if (typeof o.route_config_name === 'string' && o.config_source) rds.add(o.route_config_name);
    if (typeof o.name === 'string' && o.sds_config) sds.add(o.name);
    for (const k of Object.keys(o)) walk(o[k], depth + 1);
  };
  for (const l of raw.listeners.values()) walk(l, 0);
  for (const cl of raw.clusters.values()) {
    walk(cl, 0);
    if (cl?.type === 'EDS') eds.add(cl.eds_cluster_config?.service_name || cl.name);
  }
  const sort = (s: Set<string>) => [...s].sort();
  return { eds: sort(eds), rds: sort(rds), sds: sort(sds) };
}
