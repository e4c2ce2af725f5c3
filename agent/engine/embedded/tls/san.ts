/**
 * URI SANs of a peer certificate, from Node's `subjectaltname` string
 * (`URI:spiffe://default/web, DNS:x`; values with special characters are JSON-quoted
 * since Node 17.3/16.14, CVE-2021-44532). Pure.
 */

/** Every URI SAN in a Node `subjectaltname` string, in order. */
export function uriSans(subjectAltName: string | undefined): string[] {
  const out: string[] = [];
  if (!subjectAltName) return out;
  let i = 0;
  const s = subjectAltName;
  while (i < s.length && out.length < 1024) {
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    const kind = s.slice(i, colon).trim();
    let j = colon + 1;
    let value: string;
    if (s[j] === '"') {
      // A JSON string literal: find its end honouring escapes.
      let k = j + 1;
      while (k < s.length && s[k] !== '"') k += s[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(s.slice(j, k + 1));
      } catch {
        value = s.slice(j + 1, k);
      }
      j = k + 1;
      const comma = s.indexOf(',', j);
      j = comma < 0 ? s.length : comma + 1;
    } else {
      const comma = s.indexOf(', ', j);
      const end = comma < 0 ? s.length : comma;
      value = s.slice(j, end);
      j = comma < 0 ? s.length : comma + 2;
    }
    if (kind === 'URI') out.push(value);
    i = j;
  }
  return out;
}
