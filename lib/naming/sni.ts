/**
 * Kuma's SNI format for mesh traffic: `<service>{k=v,...}` where the braces hold every
 * other tag plus `mesh=<mesh>`, keys sorted. The ingress routes on it without
 * terminating TLS, so both sides must produce byte-identical names.
 */
import { SERVICE_TAG, type Tags } from './tags';

/** Builds the SNI for a service subset in a mesh. */
export function sniFor(mesh: string, service: string, tags: Tags = {}): string {
  const extra: Tags = { ...tags, mesh };
  delete extra[SERVICE_TAG];
  const body = Object.keys(extra)
    .sort()
    .map((k) => `${k}=${extra[k]}`)
    .join(',');
  return `${service}{${body}}`;
}

/** The parts of a mesh SNI. */
export interface ParsedSni {
  service: string;
  mesh: string;
  /** The other tags, `kuma.io/service` included, `mesh` excluded. */
  tags: Tags;
}

/** Parses a mesh SNI; returns undefined when the name is not in Kuma's format. */
export function parseSni(sni: string): ParsedSni | undefined {
  const open = sni.indexOf('{');
  if (open <= 0 || !sni.endsWith('}')) return undefined;
  const service = sni.slice(0, open);
  const body = sni.slice(open + 1, -1);
  const tags: Tags = { [SERVICE_TAG]: service };
  let mesh: string | undefined;
  if (body.length === 0) return undefined;
  for (const pair of body.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return undefined;
    const k = pair.slice(0, eq);
    const v = pair.slice(eq + 1);
    if (k === 'mesh') mesh = v;
    else tags[k] = v;
  }
  if (!mesh) return undefined;
  return { service, mesh, tags };
}
