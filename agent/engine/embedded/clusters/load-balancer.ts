/**
 * Endpoint choice for one cluster: the lowest priority that has an endpoint not
 * ejected (Envoy's priority levels, without overprovisioning spill-over), then smooth
 * weighted round robin inside it (deterministic: weights 5,1,1 give a a b a c a a).
 * Ejection is outlier-detection-like: a failed connect ejects the endpoint for a
 * backoff that doubles per consecutive failure; a success clears it. Pure apart from
 * the clock passed in.
 *
 * Clusters with `outlier_detection` also eject on answers (observe): an endpoint whose
 * responses are 5xx (or 502/503/504) a configured number of times in a row is ejected
 * at once, like Envoy's consecutive-5xx and consecutive-gateway-failure detectors, for
 * base_ejection_time times its number of ejections (capped by max_ejection_time), as
 * long as no more than max_ejection_percent of the endpoints are out. An ejected
 * endpoint returns by itself when its time is up.
 */
import type { AssignmentModel, EndpointModel, OutlierModel } from '../config/model';

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
  /** Passive health: responses >= 500 in a row, and 502/503/504 in a row. */
  consecutive5xx: number;
  consecutiveGateway: number;
  /** Outlier ejections in a row (the multiplier of base_ejection_time); cleared by a good answer. */
  outlierEjections: number;
  /** What the current (or last) ejection was for: a connect that succeeds lifts only a connect ejection. */
  ejectedFor: 'connect' | 'outlier' | '';
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
          return {
            ep,
            key,
            priority: p.priority,
            current: 0,
            ejectedUntil: prev?.ejectedUntil ?? 0,
            failures: prev?.failures ?? 0,
            ejections: prev?.ejections ?? 0,
            active: prev?.active ?? 0,
            consecutive5xx: prev?.consecutive5xx ?? 0,
            consecutiveGateway: prev?.consecutiveGateway ?? 0,
            outlierEjections: prev?.outlierEjections ?? 0,
            ejectedFor: prev?.ejectedFor ?? '',
          };
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
    s.ejectedFor = 'connect';
  }

  /**
   * Records a successful connect: a connect ejection is over. An outlier ejection stays:
   * an instance whose app is down still accepts connections on its sidecar.
   */
  succeeded(s: EndpointState): void {
    s.failures = 0;
    if (s.ejectedFor !== 'outlier') s.ejectedUntil = 0;
  }

  /**
   * Records the status of an upstream answer for passive health checking; returns true
   * when it ejected the endpoint. `chance` (0..100) decides the enforcing_* percentages.
   */
  observe(s: EndpointState, status: number, now: number, od: OutlierModel, chance: () => number = () => Math.random() * 100): boolean {
    if (status < 500) {
      s.consecutive5xx = 0;
      s.consecutiveGateway = 0;
      if (s.ejectedUntil <= now) s.outlierEjections = 0;
      return false;
    }
    s.consecutive5xx++;
    const gateway = status === 502 || status === 503 || status === 504;
    s.consecutiveGateway = gateway ? s.consecutiveGateway + 1 : 0;
    const trip5xx = od.consecutive5xx > 0 && s.consecutive5xx >= od.consecutive5xx && chance() < od.enforcing5xx;
    const tripGateway = gateway && od.consecutiveGateway > 0 && s.consecutiveGateway >= od.consecutiveGateway && chance() < od.enforcingGateway;
    if (!trip5xx && !tripGateway) return false;
    // Counting starts again either way, as Envoy resets a detector once it fired.
    s.consecutive5xx = 0;
    s.consecutiveGateway = 0;
    if (s.ejectedUntil > now) return false;
    const all = this.all();
    const out = all.filter((e) => e.ejectedUntil > now).length;
    // Envoy's check: eject only while the ejected share is below the maximum.
    if ((out * 100) / all.length >= od.maxEjectionPercent) return false;
    s.outlierEjections++;
    s.ejections++;
    s.ejectedUntil = now + Math.min(od.maxEjectionMs, od.baseEjectionMs * s.outlierEjections);
    s.ejectedFor = 'outlier';
    return true;
  }
}
