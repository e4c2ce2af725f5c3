/** TrafficPermission rules: non-empty source and destination selectors naming services. */
import type { ViolationCollector } from '../../lib/errors';
import { checkSelectors, own } from './common';

/** Appends every violation of a TrafficPermission spec. */
export function validateTrafficPermissionSpec(v: ViolationCollector, spec: Record<string, unknown>): void {
  checkSelectors(v, 'sources', own(spec, 'sources'), { requireService: true });
  checkSelectors(v, 'destinations', own(spec, 'destinations'), { requireService: true });
}
