/** Kuma's well-known tag names and checks on tag syntax. */

/** The tag every inbound must carry: the service name. */
export const SERVICE_TAG = 'kuma.io/service';
/** The protocol of an inbound: tcp (default), http, http2, grpc. */
export const PROTOCOL_TAG = 'kuma.io/protocol';
/** Added by the zone CP to every inbound. */
export const ZONE_TAG = 'kuma.io/zone';
/** Tag key that may match any value in selectors. */
export const WILDCARD = '*';

/** Map of tag key to value. */
export type Tags = Record<string, string>;

// Kuma allows letters, digits and `._/-` in keys and values (validators.TagKeyCharset).
const TAG_CHARSET = /^[a-zA-Z0-9._\-/:]+$/;

/** Explains why a tag key is malformed, or returns undefined when it is fine. */
export function checkTagKey(key: string): string | undefined {
  if (key.length === 0) return 'tag key must not be empty';
  if (!TAG_CHARSET.test(key)) return `tag key "${key}" has invalid characters; allowed: letters, digits, . _ - / :`;
  return undefined;
}

/** Explains why a tag value is malformed, or returns undefined when it is fine. */
export function checkTagValue(value: unknown, allowWildcard = false): string | undefined {
  if (typeof value !== 'string') return `tag value must be a string, got ${JSON.stringify(value)}`;
  if (value.length === 0) return 'tag value must not be empty';
  if (allowWildcard && value === WILDCARD) return undefined;
  if (!TAG_CHARSET.test(value)) return `tag value "${value}" has invalid characters; allowed: letters, digits, . _ - / :`;
  return undefined;
}

/** True when every selector tag matches (`*` matches any present value). */
export function tagsMatch(selector: Tags, tags: Tags): boolean {
  for (const [k, v] of Object.entries(selector)) {
    const actual = tags[k];
    if (actual === undefined) return false;
    if (v !== WILDCARD && v !== actual) return false;
  }
  return true;
}
