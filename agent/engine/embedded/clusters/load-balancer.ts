/**
 * Endpoint choice for one cluster: the lowest priority that has an endpoint not
 * ejected (Envoy's priority levels, without overprovisioning spill-over), then smooth
 * weighted round robin inside it (deterministic: weights 5,1,1 give a a b a c a a).
 * Ejection is outlier-detection-like: a failed connect ejects the endpoint for a
 * backoff that doubles per consecutive failure; a success clears it. Pure apart from
 * the clock passed in.
 */
import type { AssignmentModel, EndpointModel } from '../config/model';

/** Runtime state of one endpoint. */
export interface EndpointState {
  readonly ep: EndpointModel;
  readonly key: string;
  readonly priority: number;
  current: number;
  ejectedUntil: number;
  failures: number;
  ejections: number;
  active: number;
}

/** First ejection lasts this long; each consecutive failure doubles it up to the cap. */
export const BASE_EJECTION_MS = 1000;
export const MAX_EJECTION_MS = 30_000;

/** Weighted round robin over prioritised endpoints with ejection. */
export class LoadBalancer {
  private levels: EndpointState[][] = [];

  constructor(assignment?: AssignmentModel) {
    if (assignment) this.update(assignment);
  }

  /** Replaces the endpoint set, keeping ejection state of endpoints that stay. */
  update(a: AssignmentModel): void {
    const old = new Map<string, EndpointState>();
    for (const lvl of this.levels) for (const s of lvl) old.set(s.key, s);
    this.levels = a.priorities
      .map((p) =>
        p.endpoints.map((ep) => {
          const key = `${ep.host}:${ep.port}`;
          const prev = old.get(key);
          return { ep, key, priority: p.priority, current: 0, ejectedUntil: prev?.ejectedUntil ?? 0, failures: prev?.failures ?? 0, ejections: prev?.ejections ?? 0, active: prev?.active ?? 0 };
        }),
      )
      .filter((l) => l.length > 0);
  }

  /** Every endpoint, by priority. */
  all(): EndpointState[] {
    return this.levels.flat();
  }

  /** Picks an endpoint; `exclude` holds keys already tried for this connection. Undefined when none is usable. */
  pick(now: number, exclude?: ReadonlySet<string>): EndpointState | undefined {
    for (const lvl of this.levels) {
      const chosen = this.pickIn(lvl, now, exclude);
      if (chosen) return chosen;
    }
    // Every endpoint is ejected: like Envoy's panic threshold, use them all rather than fail.
    for (const lvl of this.levels) {
      const chosen = this.pickIn(lvl, Number.POSITIVE_INFINITY, exclude, true);
      if (chosen) return chosen;
    }
    return undefined;
  }

  private pickIn(lvl: EndpointState[], now: number, exclude: ReadonlySet<string> | undefined, panic = false): EndpointState | undefined {
    let total = 0;
    let best: EndpointState | undefined;
    for (const s of lvl) {
      if (exclude?.has(s.key)) continue;
      if (!panic && s.ejectedUntil > now) continue;
      s.current += s.ep.weight;
      total += s.ep.weight;
      if (!best || s.current > best.current) best = s;
    }
    if (best) best.current -= total;
    return best;
  }

  /** Records a failed connect: ejects the endpoint with a growing backoff. */
  failed(s: EndpointState, now: number): void {
    s.failures++;
    s.ejections++;
    s.ejectedUntil = now + Math.min(MAX_EJECTION_MS, BASE_EJECTION_MS * 2 ** Math.min(s.failures - 1, 10));
  }

  /** Records a successful connect: the endpoint is healthy again. */
  succeeded(s: EndpointState): void {
    s.failures = 0;
    s.ejectedUntil = 0;
  }
}
