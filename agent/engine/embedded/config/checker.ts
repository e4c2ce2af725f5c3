/**
 * Collects problems found in one decoded xDS resource, each with its field path, in
 * the shape the NACK's error_detail carries:
 * `listener "outbound:...": filter_chains[0].filters[0]: unsupported filter type ...`
 * (grpc-js-xds's validation style: every problem, not only the first).
 */

/** Problems of one resource. */
export class Checker {
  readonly problems: string[] = [];
  constructor(private readonly label: string) {}

  /** Records a problem at `path`. */
  add(path: string, message: string): void {
    this.problems.push(`${this.label}: ${path ? `${path}: ` : ''}${message}`);
  }

  /**
   * Flags every set field of `obj` outside `allowed`: a field the engine does not carry
   * out must be refused, not silently ignored (Envoy semantics differ otherwise).
   */
  only(obj: Record<string, any> | undefined, path: string, allowed: readonly string[]): void {
    if (!obj || typeof obj !== 'object') return;
    for (const k of Object.keys(obj).sort()) {
      if (k === '@type' || allowed.includes(k)) continue;
      const v = obj[k];
      if (v === undefined || v === null) continue;
      this.add(join(path, k), `field not supported by the embedded engine (supported here: ${allowed.join(', ') || 'none'})`);
    }
  }
}

/** `a.b`, or `b` when `a` is empty. */
export function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** Milliseconds of a decoded google.protobuf.Duration (`{seconds: '5', nanos}`), or undefined. */
export function durationMs(d: any): number | undefined {
  if (!d || typeof d !== 'object') return undefined;
  const s = Number(d.seconds ?? 0);
  const n = Number(d.nanos ?? 0);
  if (!Number.isFinite(s) || !Number.isFinite(n)) return undefined;
  return s * 1000 + Math.floor(n / 1e6);
}

/**
 * The idle_timeout of a decoded HttpProtocolOptions/HCM `common_http_protocol_options`
 * (at `path`) in ms, 0 meaning no limit; undefined when it is not set. The engine
 * implements no other field of that message: they are problems.
 */
export function commonHttpIdleTimeoutMs(c: Checker, common: any, path: string): number | undefined {
  if (common === undefined) return undefined;
  c.only(common, path, ['idle_timeout']);
  const ms = durationMs(common?.idle_timeout);
  if (ms === undefined) return undefined;
  if (ms < 0) {
    c.add(join(path, 'idle_timeout'), `must not be negative, got ${JSON.stringify(common.idle_timeout)}`);
    return undefined;
  }
  return ms;
}

/** Value of a decoded wrapper (`{value: 3}`) or a plain number. */
export function wrapped(v: any): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') return v.value === undefined ? 0 : Number(v.value);
  return Number(v);
}

/** The type URL of a decoded Any: `@type` when the type is known to our protos, else the raw `type_url`. */
export function anyType(tc: any): string | undefined {
  if (!tc || typeof tc !== 'object') return undefined;
  return tc['@type'] ?? tc.type_url;
}
