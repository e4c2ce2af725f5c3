/**
 * `kuma-dp run` configuration: the flag table, and phase 1 of startup, which turns
 * argv + environment into a validated RunConfig without binding anything. Flags win
 * over environment variables (Kuma's names, see env.ts), which win over defaults.
 */
import fs from 'node:fs';
import net from 'node:net';
import { yaml } from '../startup-modules';
import { UsageError, formatViolation } from '../../lib/errors';
import { validateResource } from '../../api/validation';
import { fromKumaJson } from '../../api/resource';
import { Env } from './env';
import { parseBool, parseFlags, type FlagSpec } from './flags';
import { checkDuration, formatDuration, parseDuration } from '../../api/duration';
import { renderTemplate } from './template';

/** Proxy types kuma-dp runs (Kuma also has `egress`, which this project does not implement). */
export const PROXY_TYPES = ['dataplane', 'ingress'] as const;
/** Engines kuma-dp can run. */
export const ENGINES = ['auto', 'envoy', 'embedded'] as const;
/** What happens when the engine exits on its own. */
export const RESTART_POLICIES = ['never', 'on-failure'] as const;
/** Who answers the DNS fast path: agent/dns/dns-server.ts, DnsFastPath. */
export const DNS_FAST_PATHS = ['auto', 'native', 'js'] as const;
/** Envoy's --log-level values (Envoy CLI docs). */
export const ENVOY_LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off'] as const;
/** kuma-dp's own log levels (pino's, plus `off`). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'off'] as const;

/** A host:port of an upstream DNS resolver. */
export interface DnsUpstream {
  host: string;
  port: number;
}

/** Everything `kuma-dp run` needs, validated. */
export interface RunConfig {
  cpAddress: URL;
  /** PEM of the CA that signs the CP's certificate; undefined means system CAs. */
  caCertPem?: string;
  caCertFile?: string;
  mesh?: string;
  name: string;
  proxyType: (typeof PROXY_TYPES)[number];
  /** The rendered Dataplane / ZoneIngress, when one was given. */
  resource?: { json: Record<string, any>; text: string };
  token?: string;
  binaryPath?: string;
  engine: (typeof ENGINES)[number];
  restartPolicy: (typeof RESTART_POLICIES)[number];
  drainTimeMs: number;
  shutdownTimeoutMs: number;
  concurrency?: number;
  envoyLogLevel: string;
  logLevel: string;
  /** Engine admin port; undefined picks one from the resource or a free port. */
  adminPort?: number;
  /** 0 picks a free port. */
  readinessPort: number;
  readinessAddress: string;
  workDir?: string;
  cpRetry: { backoffMs: number; maxDurationMs: number };
  dns: { enabled: boolean; port: number; upstreams?: DnsUpstream[]; refreshIntervalMs: number; fastPath: (typeof DNS_FAST_PATHS)[number] };
  extraArgs: string[];
}

/** The flags of `kuma-dp run` (Kuma's names; aliases keep older spellings working). */
export const RUN_FLAGS: readonly FlagSpec[] = [
  { name: 'cp-address', kind: 'string', valueName: 'url', help: `URL of the Control Plane DP server, e.g. https://localhost:5678 (env ${Env.cpAddress})` },
  { name: 'ca-cert-file', kind: 'string', valueName: 'path', help: `CA certificate that signs the CP's certificate; default: system CAs (env ${Env.caCertFile})` },
  { name: 'dataplane-file', short: 'd', kind: 'string', valueName: 'path', help: `Dataplane or ZoneIngress template, YAML or JSON (env ${Env.resourcePath})` },
  { name: 'dataplane', kind: 'string', valueName: 'yaml', help: `Dataplane template given inline (env ${Env.resource})` },
  { name: 'dataplane-var', short: 'v', kind: 'string', repeatable: true, valueName: 'k=v', help: 'Fills {{ k }} in the template; repeatable, or k1=v1,k2=v2' },
  { name: 'dataplane-token-file', kind: 'string', valueName: 'path', help: `File holding the dataplane token (env ${Env.tokenPath})` },
  { name: 'dataplane-token', kind: 'string', valueName: 'token', help: `The dataplane token itself (env ${Env.token})` },
  { name: 'name', kind: 'string', valueName: 'name', help: `Dataplane name; default: from the template (env ${Env.name})` },
  { name: 'mesh', kind: 'string', valueName: 'mesh', help: `Mesh; default: from the template (env ${Env.mesh})` },
  { name: 'proxy-type', kind: 'string', valueName: 'type', help: `dataplane or ingress (env ${Env.proxyType}; default dataplane)` },
  { name: 'engine', kind: 'string', valueName: 'engine', help: `auto, envoy or embedded (env ${Env.engine}; default auto: Envoy when found)` },
  { name: 'binary-path', kind: 'string', valueName: 'path', help: `Envoy binary; default: func-e's layout, then envoy on PATH (env ${Env.binaryPath})` },
  { name: 'drain-time', kind: 'string', valueName: 'duration', help: `How long listeners drain on shutdown (env ${Env.drainTime}; default 30s)` },
  { name: 'shutdown-timeout', kind: 'string', valueName: 'duration', help: `After draining, how long the engine may take to stop before SIGKILL (default 10s)` },
  { name: 'restart-policy', kind: 'string', valueName: 'policy', help: `never or on-failure: restart Envoy with backoff when it crashes (default never)` },
  { name: 'concurrency', kind: 'string', valueName: 'n', help: `Envoy worker threads (env ${Env.concurrency})` },
  { name: 'envoy-log-level', kind: 'string', valueName: 'level', help: `trace, debug, info, warning, error, critical or off; default: kuma-dp's level` },
  { name: 'log-level', kind: 'string', valueName: 'level', help: `kuma-dp log level: ${LOG_LEVELS.join(', ')} (env ${Env.logLevel}; default info)` },
  { name: 'admin-port', kind: 'string', valueName: 'port', help: `Engine admin port; default: networking.admin.port, else a free port (env ${Env.adminPort})` },
  { name: 'readiness-port', kind: 'string', valueName: 'port', help: `Port of /ready and /metrics; 0 = a free port, logged (env ${Env.readinessPort}; default 0)` },
  { name: 'readiness-address', kind: 'string', valueName: 'ip', help: `Address of /ready and /metrics (default 127.0.0.1)` },
  { name: 'config-dir', aliases: ['work-dir', 'dataplane-work-dir'], kind: 'string', valueName: 'dir', help: `Work dir for the bootstrap and caches; default: a temporary dir removed on exit (env ${Env.configDir})` },
  { name: 'dns-enabled', kind: 'bool', help: `Serve DNS for <service>.mesh and forward the rest (env ${Env.dnsEnabled}; default false)` },
  { name: 'dns-proxy-port', aliases: ['dns-coredns-port'], kind: 'string', valueName: 'port', help: `DNS port, UDP and TCP on 127.0.0.1 (env ${Env.dnsPort}; default 15053)` },
  { name: 'dns-upstream', kind: 'string', valueName: 'ip:port', help: `Upstream resolvers, comma separated; default: /etc/resolv.conf (env ${Env.dnsUpstream})` },
  { name: 'dns-fast-path', kind: 'string', valueName: 'mode', help: `Who answers <service>.mesh over UDP: native (a batching worker thread; fails without it), js, or auto = native when built (env ${Env.dnsFastPath}; default auto)` },
  { name: 'dns-refresh-interval', kind: 'string', valueName: 'duration', help: `How often the VIP table is fetched from the CP (env ${Env.refreshInterval}; default 10s)` },
];

/** Where phase 1 gets its inputs; replaceable in tests. */
export interface ResolveDeps {
  env: NodeJS.ProcessEnv;
  readFile: (path: string) => string;
}

const defaultDeps: ResolveDeps = { env: process.env, readFile: (p) => fs.readFileSync(p, 'utf8') };

/** Phase 1: argv (after `run`) and env -> RunConfig. Throws UsageError with the flag, the value and what is valid. */
export function resolveRunConfig(argv: readonly string[], deps: ResolveDeps = defaultDeps): RunConfig {
  const parsed = parseFlags(argv, RUN_FLAGS);
  if (parsed.positional.length > 0) {
    throw new UsageError(`unexpected argument "${parsed.positional[0]}"; Envoy arguments go after --, e.g. kuma-dp run ... -- --component-log-level upstream:debug`);
  }
  const envName = new Map<string, string>([
    ['cp-address', Env.cpAddress], ['ca-cert-file', Env.caCertFile], ['dataplane-file', Env.resourcePath],
    ['dataplane', Env.resource], ['dataplane-token-file', Env.tokenPath], ['dataplane-token', Env.token],
    ['name', Env.name], ['mesh', Env.mesh], ['proxy-type', Env.proxyType], ['engine', Env.engine],
    ['binary-path', Env.binaryPath], ['drain-time', Env.drainTime], ['concurrency', Env.concurrency],
    ['envoy-log-level', Env.envoyLogLevel], ['log-level', Env.logLevel], ['admin-port', Env.adminPort],
    ['readiness-port', Env.readinessPort], ['readiness-address', Env.readinessAddress], ['config-dir', Env.configDir],
    ['dns-enabled', Env.dnsEnabled], ['dns-proxy-port', Env.dnsPort], ['dns-upstream', Env.dnsUpstream],
    ['dns-refresh-interval', Env.refreshInterval], ['dns-fast-path', Env.dnsFastPath], ['restart-policy', Env.restartPolicy], ['shutdown-timeout', Env.shutdownTimeout],
  ]);
  /** The value and how to name its source in messages. */
  const get = (flag: string): { value: string; src: string } | undefined => {
    const v = parsed.values.get(flag);
    if (typeof v === 'string') return { value: v, src: `--${flag}` };
    const e = envName.get(flag);
    if (e !== undefined && deps.env[e] !== undefined && deps.env[e] !== '') return { value: deps.env[e]!, src: `${e} (for --${flag})` };
    return undefined;
  };
  const oneOf = <T extends string>(flag: string, allowed: readonly T[], dflt: T): T => {
    const g = get(flag);
    if (!g) return dflt;
    if (!(allowed as readonly string[]).includes(g.value)) {
      throw new UsageError(`${g.src}: invalid value "${g.value}"; valid: ${allowed.join(', ')}`);
    }
    return g.value as T;
  };
  const duration = (flag: string, dflt: number, min = 0): number => {
    const g = get(flag);
    if (!g) return dflt;
    const reason = checkDuration(g.value);
    if (reason !== undefined) throw new UsageError(`${g.src}: ${reason}`);
    const ms = parseDuration(g.value);
    if (ms < min) throw new UsageError(`${g.src}: must be at least ${formatDuration(min)}, got "${g.value}"`);
    return ms;
  };
  const integer = (flag: string, min: number, max: number): number | undefined => {
    const g = get(flag);
    if (!g) return undefined;
    if (!/^\d+$/.test(g.value.trim()) || Number(g.value) < min || Number(g.value) > max) {
      throw new UsageError(`${g.src}: invalid value "${g.value}"; valid: an integer in ${min}..${max}`);
    }
    return Number(g.value);
  };
  const readFileFor = (src: string, path: string, what: string): string => {
    try {
      return deps.readFile(path);
    } catch (err) {
      throw new UsageError(`${src}: cannot read ${what} "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  };

  // Scalar settings first: a typo in one is reported before anything is read.
  const engine = oneOf('engine', ENGINES, 'auto');
  const binaryPath = get('binary-path')?.value;
  if (engine === 'embedded' && binaryPath && parsed.values.has('binary-path')) {
    throw new UsageError(`--binary-path: given with --engine=embedded, which runs no Envoy; drop one`);
  }
  const logLevel = oneOf('log-level', LOG_LEVELS, 'info');
  const envoyLogLevel = oneOf('envoy-log-level', ENVOY_LOG_LEVELS, envoyLevelOf(logLevel));
  const concurrency = integer('concurrency', 1, 1024);
  const adminPort = integer('admin-port', 0, 65535);
  const readinessPort = integer('readiness-port', 0, 65535) ?? 0;
  const readinessAddress = get('readiness-address')?.value ?? '127.0.0.1';
  if (net.isIP(readinessAddress) === 0) {
    throw new UsageError(`--readiness-address: "${readinessAddress}" is not an IP address`);
  }
  const dnsEnabledRaw = get('dns-enabled');
  const dnsEnabled = dnsEnabledRaw ? parseBool(dnsEnabledRaw.src, dnsEnabledRaw.value) : false;
  const dnsPort = integer('dns-proxy-port', 0, 65535) ?? 15053;
  const upstreamRaw = get('dns-upstream');
  const upstreams = upstreamRaw ? parseUpstreams(upstreamRaw.src, upstreamRaw.value) : undefined;

  const dnsFastPath = oneOf('dns-fast-path', DNS_FAST_PATHS, 'auto');
  const restartPolicy = oneOf('restart-policy', RESTART_POLICIES, 'never');
  const drainTimeMs = duration('drain-time', 30_000);
  const shutdownTimeoutMs = duration('shutdown-timeout', 10_000);
  const refreshIntervalMs = duration('dns-refresh-interval', 10_000, 10);
  const proxyType = oneOf('proxy-type', PROXY_TYPES, 'dataplane');

  // Control plane.
  const cpText = get('cp-address')?.value ?? 'https://localhost:5678';
  let cpAddress: URL;
  try {
    cpAddress = new URL(cpText);
  } catch {
    throw new UsageError(`--cp-address: invalid URL "${cpText}"; valid: https://HOST:PORT (or http:// for a plaintext CP)`);
  }
  if (cpAddress.protocol !== 'https:' && cpAddress.protocol !== 'http:') {
    throw new UsageError(`--cp-address: unsupported scheme "${cpAddress.protocol}" in "${cpText}"; valid: https:// or http://`);
  }
  const caFile = get('ca-cert-file');
  let caCertPem = deps.env[Env.caCert] || undefined;
  if (!caCertPem && caFile) {
    caCertPem = readFileFor(caFile.src, caFile.value, 'the CA certificate');
    if (!caCertPem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new UsageError(`${caFile.src}: "${caFile.value}" holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
    }
  }

  // Proxy identity: the template, then --name / --mesh.
  const vars = parseVars(parsed.values.get('dataplane-var'));
  const inline = get('dataplane');
  const file = get('dataplane-file');
  if (inline && file) throw new UsageError(`--dataplane and --dataplane-file are mutually exclusive; give one`);
  let resource: RunConfig['resource'];
  if (inline || file) {
    const src = (inline ?? file)!.src;
    const raw = inline ? inline.value : readFileFor(file!.src, file!.value, 'the dataplane template');
    resource = parseProxyResource(src, renderTemplate(raw, vars), proxyType);
  } else if (vars && Object.keys(vars).length > 0) {
    throw new UsageError(`--dataplane-var: given without a template; pass --dataplane-file or --dataplane`);
  }
  const nameFlag = get('name');
  const meshFlag = get('mesh');
  let name = nameFlag?.value;
  let mesh = meshFlag?.value;
  if (resource) {
    const rName: string = resource.json.name;
    const rMesh: string | undefined = resource.json.mesh;
    if (name !== undefined && name !== rName) throw new UsageError(`${nameFlag!.src}: "${name}" differs from the template's name "${rName}"; drop one`);
    if (mesh !== undefined && rMesh !== undefined && mesh !== rMesh) throw new UsageError(`${meshFlag!.src}: "${mesh}" differs from the template's mesh "${rMesh}"; drop one`);
    name = rName;
    mesh = rMesh ?? mesh;
  }
  if (!name) throw new UsageError(`--name: required when no --dataplane-file or --dataplane is given (the CP must already know the dataplane)`);
  if (/[${}()]/.test(name)) throw new UsageError(`--name: "${name}" contains invalid characters ($, {, }, ( or ))`);
  if (proxyType === 'dataplane' && !mesh) throw new UsageError(`--mesh: required for --proxy-type=dataplane when the template does not set mesh`);
  if (proxyType === 'ingress') mesh = undefined;

  // Token.
  const tokenFile = get('dataplane-token-file');
  const tokenInline = get('dataplane-token');
  if (parsed.values.has('dataplane-token') && parsed.values.has('dataplane-token-file')) {
    throw new UsageError(`--dataplane-token and --dataplane-token-file are mutually exclusive; give one`);
  }
  let token = tokenInline?.value;
  if (!token && tokenFile) {
    token = readFileFor(tokenFile.src, tokenFile.value, 'the dataplane token').trim();
    if (token === '') throw new UsageError(`${tokenFile.src}: "${tokenFile.value}" is empty; generate one with kumactl generate dataplane-token`);
  }

  return {
    cpAddress,
    caCertPem,
    caCertFile: caFile?.value,
    mesh,
    name,
    proxyType,
    resource,
    token,
    binaryPath,
    engine,
    restartPolicy,
    drainTimeMs,
    shutdownTimeoutMs,
    concurrency,
    envoyLogLevel,
    logLevel,
    adminPort,
    readinessPort,
    readinessAddress,
    workDir: get('config-dir')?.value,
    cpRetry: {
      backoffMs: envDuration(deps.env, Env.cpRetryBackoff, 3000),
      maxDurationMs: envDuration(deps.env, Env.cpRetryMaxDuration, 5 * 60_000),
    },
    dns: { enabled: dnsEnabled, port: dnsPort, upstreams, refreshIntervalMs, fastPath: dnsFastPath },
    extraArgs: [...parsed.passthrough],
  };
}

/** `a=b` pairs from repeated and comma-separated --dataplane-var values. */
function parseVars(values: string | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of Array.isArray(values) ? values : values ? [values] : []) {
    for (const pair of v.split(',')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--dataplane-var: invalid "${pair}"; valid: NAME=VALUE`);
      out[pair.slice(0, eq).trim()] = pair.slice(eq + 1);
    }
  }
  return out;
}

/** Parses and checks the rendered template against the proxy type. */
function parseProxyResource(src: string, text: string, proxyType: RunConfig['proxyType']): NonNullable<RunConfig['resource']> {
  let json: unknown;
  try {
    const docs = yaml().parseAllDocuments(text);
    if (docs.length !== 1) throw new Error(`expected one document, found ${docs.length}`);
    if (docs[0].errors.length > 0) throw docs[0].errors[0];
    json = docs[0].toJS();
  } catch (err) {
    throw new UsageError(`${src}: not valid YAML or JSON: ${(err as Error).message}`, { cause: err });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new UsageError(`${src}: expected a Dataplane or ZoneIngress object`);
  }
  const obj = json as Record<string, any>;
  const expected = proxyType === 'ingress' ? 'ZoneIngress' : 'Dataplane';
  if (obj.type !== expected) {
    throw new UsageError(`${src}: type is "${obj.type ?? ''}" but --proxy-type=${proxyType} needs type: ${expected}`);
  }
  if (typeof obj.name !== 'string' || obj.name === '') throw new UsageError(`${src}: name: required`);
  const gw = obj.networking?.gateway;
  if (gw !== undefined && gw.type !== undefined && gw.type !== 'DELEGATED' && gw.type !== 'BUILTIN') {
    throw new UsageError(`${src}: networking.gateway.type: "${gw.type}"; valid: DELEGATED or BUILTIN`);
  }
  const violations = validateResource(fromKumaJson(obj));
  if (violations.length > 0) {
    throw new UsageError(`${src}: invalid ${expected}: ${violations.map(formatViolation).join('; ')}`);
  }
  return { json: obj, text: JSON.stringify(obj) };
}

function envoyLevelOf(level: string): string {
  switch (level) {
    case 'trace':
    case 'debug':
    case 'info':
    case 'error':
    case 'off':
      return level;
    case 'warn':
      return 'warning';
    case 'fatal':
      return 'critical';
    default:
      return 'info';
  }
}

function envDuration(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const reason = checkDuration(v);
  if (reason !== undefined) throw new UsageError(`${name}: ${reason}`);
  const ms = parseDuration(v);
  if (ms <= 0) throw new UsageError(`${name}: must be a positive duration, got "${v}"`);
  return ms;
}

/** `127.0.0.1:53,[::1]:5353` -> upstreams. */
export function parseUpstreams(src: string, text: string): DnsUpstream[] {
  return text.split(',').map((part) => {
    const p = part.trim();
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(p) ?? /^([^:]+)(?::(\d+))?$/.exec(p);
    const port = m?.[2] === undefined ? 53 : Number(m[2]);
    if (!m || net.isIP(m[1]) === 0 || port < 1 || port > 65535) {
      throw new UsageError(`${src}: invalid upstream "${p}"; valid: IP or IP:PORT, comma separated`);
    }
    return { host: m[1], port };
  });
}
