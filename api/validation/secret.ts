/** Secret and GlobalSecret rules: `data` is required, non-empty base64 (checked by structure). */
import type { ViolationCollector } from '../../lib/errors';
import { isSet, own } from './common';

/** Appends every violation of a Secret or GlobalSecret spec. */
export function validateSecretSpec(v: ViolationCollector, spec: Record<string, unknown>): void {
  const data = own(spec, 'data');
  if (!isSet(data)) v.add('data', 'is required; must be base64-encoded bytes');
  else if (data === '') v.add('data', 'must not be empty');
}
