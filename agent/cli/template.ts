/**
 * Dataplane templates: `{{ name }}` placeholders filled from `--dataplane-var name=value`,
 * as Kuma's `kuma-dp run --dataplane-var` does. Pure.
 */
import { UsageError } from '../../lib/errors';

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g;

/** Fills every placeholder; a placeholder without a variable is a usage error naming it. */
export function renderTemplate(text: string, vars: Readonly<Record<string, string>>): string {
  const missing = new Set<string>();
  const out = text.replace(PLACEHOLDER, (_m, name: string) => {
    if (Object.prototype.hasOwnProperty.call(vars, name)) return vars[name];
    missing.add(name);
    return '';
  });
  if (missing.size > 0) {
    const names = [...missing].sort();
    throw new UsageError(
      `--dataplane-var: the dataplane template uses ${names.map((n) => `{{ ${n} }}`).join(', ')} ` +
        `but no value was given; pass ${names.map((n) => `--dataplane-var ${n}=VALUE`).join(' ')}`,
    );
  }
  return out;
}
