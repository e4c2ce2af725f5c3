/**
 * The body of `POST /bootstrap` (Kuma's BootstrapRequest field names,
 * pkg/xds/bootstrap/types/bootstrap_request.go) and the parsing of its response. Pure.
 */
import { yaml } from '../startup-modules';

/** Versions kuma-dp reports to the CP. */
export interface VersionInfo {
  kumaDp: { version: string; gitTag: string; gitCommit: string; buildDate: string };
  envoy: { version: string; build: string; kumaDpCompatible: boolean };
}

/** Kuma's BootstrapRequest. */
export interface BootstrapRequest {
  mesh: string;
  name: string;
  proxyType: 'dataplane' | 'ingress';
  dataplaneToken?: string;
  dataplaneResource?: string;
  adminPort?: number;
  readinessPort?: number;
  dnsPort?: number;
  workdir?: string;
  caCert: string;
  dynamicMetadata: Record<string, string>;
  version: VersionInfo;
}

/** What the CP answers. */
export interface BootstrapResponse {
  /** The Envoy v3 bootstrap (JSON form, Envoy field names). */
  bootstrap: Record<string, any>;
  /** Kuma's KumaSidecarConfiguration (networking, metrics); may be empty. */
  kumaSidecarConfiguration: Record<string, any>;
}

/** Inputs of the request, as the run config has them. */
export interface BootstrapRequestInput {
  mesh?: string;
  name: string;
  proxyType: 'dataplane' | 'ingress';
  token?: string;
  resourceText?: string;
  adminPort?: number;
  readinessPort?: number;
  dnsPort?: number;
  workDir?: string;
  caCertPem?: string;
  kumaDpVersion: string;
  envoyVersion?: { version: string; build: string };
}

/** Builds the request body; fields Kuma marks omitempty are left out when unset. */
export function buildBootstrapRequest(i: BootstrapRequestInput): BootstrapRequest {
  const req: BootstrapRequest = {
    mesh: i.mesh ?? '',
    name: i.name,
    proxyType: i.proxyType,
    caCert: i.caCertPem ?? '',
    dynamicMetadata: {},
    version: {
      kumaDp: { version: i.kumaDpVersion, gitTag: '', gitCommit: '', buildDate: '' },
      envoy: {
        version: i.envoyVersion?.version ?? '',
        build: i.envoyVersion?.build ?? '',
        kumaDpCompatible: true,
      },
    },
  };
  if (i.token) req.dataplaneToken = i.token;
  if (i.resourceText) req.dataplaneResource = i.resourceText;
  if (i.adminPort) req.adminPort = i.adminPort;
  if (i.readinessPort) req.readinessPort = i.readinessPort;
  if (i.dnsPort) req.dnsPort = i.dnsPort;
  if (i.workDir) req.workdir = i.workDir;
  return req;
}

/**
 * Parses the CP's answer. The bootstrap may come as an object, as YAML/JSON text, or
 * base64 of either (what Go's encoding/json makes of a []byte field, as Kuma sends it).
 */
export function parseBootstrapResponse(body: string): BootstrapResponse {
  let obj: any;
  try {
    obj = JSON.parse(body);
  } catch (err) {
    throw new Error(`response is not JSON: ${(err as Error).message}`);
  }
  if (obj === null || typeof obj !== 'object') throw new Error('response is not a JSON object');
  let bootstrap = obj.bootstrap;
  if (typeof bootstrap === 'string') bootstrap = parseBootstrapText(bootstrap);
  if (bootstrap === null || typeof bootstrap !== 'object' || Array.isArray(bootstrap)) {
    throw new Error('response.bootstrap: expected an Envoy bootstrap object');
  }
  const sidecar = obj.kumaSidecarConfiguration;
  return { bootstrap, kumaSidecarConfiguration: sidecar && typeof sidecar === 'object' ? sidecar : {} };
}

function parseBootstrapText(text: string): unknown {
  const t = text.trim();
  const looksBase64 = /^[A-Za-z0-9+/=\s]+$/.test(t) && !t.includes(':');
  const source = looksBase64 ? Buffer.from(t, 'base64').toString('utf8') : t;
  return yaml().parse(source);
}

/** Envoy's admin port from a bootstrap, if it has a TCP admin address. */
export function adminPortOf(bootstrap: Record<string, any>): number | undefined {
  const sa = bootstrap?.admin?.address?.socket_address ?? bootstrap?.admin?.address?.socketAddress;
  const p = Number(sa?.port_value ?? sa?.portValue);
  return Number.isInteger(p) && p > 0 && p < 65536 ? p : undefined;
}

/** Envoy's admin address (host) from a bootstrap; 127.0.0.1 when unset. */
export function adminHostOf(bootstrap: Record<string, any>): string {
  const sa = bootstrap?.admin?.address?.socket_address ?? bootstrap?.admin?.address?.socketAddress;
  const a = sa?.address;
  return typeof a === 'string' && a !== '' && a !== '0.0.0.0' ? a : '127.0.0.1';
}
