/**
 * Zone rules. A Zone has one field, `enabled` (optional boolean); its type is enforced
 * by the structure check against kuma.mesh.v1alpha1.Zone, so nothing more is needed
 * here. The function exists so every resource type has the same validation entry.
 */
import type { ViolationCollector } from '../../lib/errors';

/** Appends every violation of a Zone spec beyond structure (there are none today). */
export function validateZoneSpec(v: ViolationCollector, spec: Record<string, unknown>): void {
  void v;
  void spec;
}
