/**
 * `POST /bootstrap`: kuma-dp asks for its Envoy bootstrap (Kuma's BootstrapRequest and
 * BootstrapResponse field names). The request may carry the Dataplane itself
 * (`dataplaneResource`, YAML or JSON), which registers it. Statuses: 400 malformed
 * request, 401/403 token problems, 404 unknown Dataplane/ZoneIngress or mesh,
 * 409 conflicting write, 422 invalid request fields or dataplaneResource (with causes).
 */
import YAML from 'yaml';
import { fromKumaJson, type ResourceInput } from '../../api/resource';
import { validateResource } from '../../api/validation/index';
import { AuthError, ConflictError, KumaError, NotFoundError, ValidationError, type FieldViolation } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { SERVICE_TAG } from '../../lib/naming/tags';
import { buildBootstrap, checkBootstrap } from '../../envoy-bootstrap/index';
import type { ResourceStore } from '../store/store';
import type { TokenVerifier } from '../tokens/types';
import { verifyProxyToken } from '../xds/server/proxy-auth';

/** What the handler needs from the CP. */
export interface BootstrapHandlerOptions {
  store: ResourceStore;
  authn: 'dpToken' | 'none';
  tokens?: TokenVerifier;
  /** CA of the DP server certificate, used when the request brings no `caCert`. */
  caPem: string;
  /** The DP server's TLS port (what the proxy's ADS cluster dials). */
  port: () => number;
  log: Logger;
  /** This CP's zone (zone tokens of ingresses must name it). */
  zone?: string;
  /** Applied to a self-registering resource before it is stored (zone tagging, write guards). */
  beforeRegister?: (input: ResourceInput) => void | Promise<void>;
}

/** An HTTP answer. */
export interface HandlerResponse {
  status: number;
  body: Record<string, unknown>;
}

function error(status: number, title: string, details: string, causes?: FieldViolation[]): HandlerResponse {
  const body: Record<string, unknown> = { title, details };
  if (causes?.length) body.causes = causes;
  return { status, body };
}

function portField(v: FieldViolation[], body: Record<string, any>, key: string): number | undefined {
  const x = body[key];
  if (x === undefined || x === null || x === 0) return undefined;
  if (!Number.isInteger(x) || x < 1 || x > 65535) {
    v.push({ field: key, message: `must be an integer port in 1..65535, got ${JSON.stringify(x)}` });
    return undefined;
  }
  return x;
}

/** Host name the client used to reach us, from the Host header (without port, IPv6 brackets removed). */
export function hostOf(hostHeader: string | undefined): string {
  const h = (hostHeader ?? '').trim();
  if (!h) return '127.0.0.1';
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon > 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/** The main service of a proxy (node.cluster): first inbound's service, else the gateway's, else its name. */
export function mainService(spec: Record<string, any>, name: string): string {
  const net = spec.networking ?? {};
  return net.inbound?.[0]?.tags?.[SERVICE_TAG] ?? net.gateway?.tags?.[SERVICE_TAG] ?? name;
}

/** Handles one bootstrap request; never throws for bad input. */
export async function handleBootstrap(o: BootstrapHandlerOptions, body: unknown, hostHeader: string | undefined): Promise<HandlerResponse> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return error(400, 'Bad Request', 'the body must be a JSON object (Kuma BootstrapRequest)');
  const b = body as Record<string, any>;
  const v: FieldViolation[] = [];
  const proxyType = b.proxyType === undefined || b.proxyType === '' ? 'dataplane' : b.proxyType;
  if (proxyType !== 'dataplane' && proxyType !== 'ingress') v.push({ field: 'proxyType', message: `must be "dataplane" or "ingress", got ${JSON.stringify(b.proxyType)}` });
  if (typeof b.name !== 'string' || b.name === '') v.push({ field: 'name', message: 'is required (the Dataplane name)' });
  if (b.mesh !== undefined && typeof b.mesh !== 'string') v.push({ field: 'mesh', message: `must be a string, got ${JSON.stringify(b.mesh)}` });
  const adminPort = portField(v, b, 'adminPort') ?? 9901;
  const dnsPort = portField(v, b, 'dnsPort');
  const readinessPort = portField(v, b, 'readinessPort');
  if (b.dataplaneResource !== undefined && typeof b.dataplaneResource !== 'string') v.push({ field: 'dataplaneResource', message: 'must be a string holding the resource as YAML or JSON' });
  if (v.length) return error(422, 'Invalid bootstrap request', 'the request has invalid fields', v);
  const name: string = b.name;
  const mesh: string = proxyType === 'ingress' ? '' : b.mesh || 'default';
  const type = proxyType === 'ingress' ? 'ZoneIngress' : 'Dataplane';
  const log = o.log.child({ mesh, dataplane: name, proxyType });

  try {
    if (o.authn === 'dpToken') {
      if (!o.tokens) throw new AuthError('dataplane token authentication is on but no token verifier is configured');
      if (typeof b.dataplaneToken !== 'string' || b.dataplaneToken === '') throw new AuthError('dataplaneToken is required (kuma-dp --dataplane-token-file)');
      await verifyProxyToken(o.tokens, b.dataplaneToken, { kind: proxyType, mesh, name, dnsEnabled: false }, o.zone);
    }
    let spec: Record<string, any>;
    if (typeof b.dataplaneResource === 'string' && b.dataplaneResource.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = YAML.parse(b.dataplaneResource);
      } catch (err) {
        return error(422, 'Invalid dataplaneResource', `not valid YAML or JSON: ${(err as Error).message}`, [{ field: 'dataplaneResource', message: (err as Error).message }]);
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        return error(422, 'Invalid dataplaneResource', 'must be one resource object', [{ field: 'dataplaneResource', message: 'must be a YAML/JSON object' }]);
      }
      const input = fromKumaJson(parsed as Record<string, any>);
      const causes: FieldViolation[] = [];
      if (input.type !== type) causes.push({ field: 'type', message: `must be "${type}" for proxyType ${proxyType}, got ${JSON.stringify(input.type)}` });
      if (input.name !== undefined && input.name !== name) causes.push({ field: 'name', message: `is "${input.name}" but the request is for "${name}"` });
      if (type === 'Dataplane' && input.mesh !== undefined && input.mesh !== mesh) causes.push({ field: 'mesh', message: `is "${input.mesh}" but the request is for mesh "${mesh}"` });
      if (causes.length) return error(422, 'Invalid dataplaneResource', 'the resource does not match the request', causes);
      input.name = name;
      if (type === 'Dataplane') input.mesh = mesh;
      else delete input.mesh;
      const violations = validateResource(input);
      if (violations.length) return error(422, 'Invalid dataplaneResource', `${type} ${name} is invalid`, violations);
      if (type === 'Dataplane' && !(await o.store.get('Mesh', { name: mesh }))) throw new NotFoundError(`mesh "${mesh}" not found`);
      await o.beforeRegister?.(input);
      const stored = await o.store.upsert(input);
      log.info('proxy registered itself through /bootstrap');
      spec = stored.spec;
    } else {
      const r = await o.store.get(type, proxyType === 'ingress' ? { name } : { mesh, name });
      if (!r) throw new NotFoundError(`${type} "${name}"${type === 'Dataplane' ? ` in mesh "${mesh}"` : ''} not found; create it or pass dataplaneResource`);
      spec = r.spec;
    }
    const bootstrap = buildBootstrap({
      mesh,
      name,
      proxyType,
      service: proxyType === 'ingress' ? name : mainService(spec, name),
      cpHost: hostOf(hostHeader),
      cpPort: o.port(),
      cpCaPem: typeof b.caCert === 'string' && b.caCert.includes('BEGIN CERTIFICATE') ? b.caCert : o.caPem,
      dataplaneToken: typeof b.dataplaneToken === 'string' && b.dataplaneToken ? b.dataplaneToken : undefined,
      adminPort,
      dnsPort,
      readinessPort,
      version: { kumaDp: { version: String(b.version?.kumaDp?.version ?? '') }, envoy: { version: String(b.version?.envoy?.version ?? '') } },
    });
    const problems = checkBootstrap(bootstrap);
    if (problems.length) {
      log.error({ problems }, 'generated bootstrap fails Envoy validation');
      return error(500, 'Internal Server Error', 'the generated bootstrap is invalid', problems);
    }
    const net = spec.networking ?? {};
    return {
      status: 200,
      body: {
        bootstrap,
        kumaSidecarConfiguration: {
          networking: { isUsingTransparentProxy: !!net.transparentProxying, address: net.address ?? '', corefile: '' },
          metrics: { aggregate: [] },
        },
      },
    };
  } catch (err) {
    if (err instanceof AuthError) return error(err.status, err.status === 401 ? 'Unauthorized' : 'Forbidden', err.message);
    if (err instanceof NotFoundError) return error(404, 'Not Found', err.message);
    if (err instanceof ValidationError) return error(422, 'Invalid dataplaneResource', err.message, err.violations);
    if (err instanceof ConflictError) return error(409, 'Conflict', err.message);
    if (err instanceof KumaError) return error(400, 'Bad Request', err.message);
    log.error({ err }, 'bootstrap request failed');
    return error(500, 'Internal Server Error', 'the bootstrap could not be generated; see the CP log');
  }
}
