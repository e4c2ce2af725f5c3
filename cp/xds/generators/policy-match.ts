/**
 * Which TrafficRoute and TrafficPermission apply. Kuma picks, per connection, the one
 * policy whose selectors match most specifically: more exact tag matches win, then
 * fewer wildcards; a remaining tie goes to the name that sorts first (deterministic
 * where Kuma uses creation time).
 */
import type { Resource } from '../../../api/resource';
import { SERVICE_TAG, WILDCARD, type Tags } from '../../../lib/naming/tags';

/** Specificity of a selector match: [exact matches, wildcard matches]; undefined when it does not match. */
export type Rank = [number, number];

/** Ranks `selector` against `tags`; a `kuma.io/service: *` selector matches any source. */
export function rankSelector(selector: Tags | undefined, tags: Tags): Rank | undefined {
  let exact = 0;
  let wild = 0;
  for (const [k, v] of Object.entries(selector ?? {})) {
    if (v === WILDCARD) {
      if (tags[k] === undefined && k !== SERVICE_TAG) return undefined;
      wild++;
    } else if (tags[k] === v) exact++;
    else return undefined;
  }
  return [exact, wild];
}

function better(a: Rank, b: Rank): boolean {
  return a[0] !== b[0] ? a[0] > b[0] : a[1] < b[1];
}

/** Best rank of any selector against any of the tag sets. */
function bestRank(selectors: { match?: Tags }[] | undefined, tagSets: Tags[]): Rank | undefined {
  let best: Rank | undefined;
  for (const s of selectors ?? []) {
    for (const tags of tagSets) {
      const r = rankSelector(s.match, tags);
      if (r && (!best || better(r, best))) best = r;
    }
  }
  return best;
}

function pick(policies: Resource[], rankOf: (p: Resource) => Rank | undefined): Resource | undefined {
  let best: { p: Resource; rank: Rank } | undefined;
  const sorted = [...policies].sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0));
  for (const p of sorted) {
    const rank = rankOf(p);
    if (rank && (!best || better(rank, best.rank))) best = { p, rank };
  }
  return best?.p;
}

/** The TrafficRoute for traffic from a proxy (its inbound tag sets) to a service. */
export function selectTrafficRoute(routes: Resource[], sourceTagSets: Tags[], service: string): Resource | undefined {
  return pick(routes, (r) => {
    const dst = bestRank(r.spec.destinations, [{ [SERVICE_TAG]: service }]);
    const src = bestRank(r.spec.sources, sourceTagSets);
    return dst && src ? [dst[0] + src[0], dst[1] + src[1]] : undefined;
  });
}

/** The TrafficPermission that governs an inbound (by its destination match). */
export function selectTrafficPermission(permissions: Resource[], inboundTags: Tags): Resource | undefined {
  return pick(permissions, (p) => bestRank(p.spec.destinations, [inboundTags]));
}
