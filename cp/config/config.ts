/**
 * kuma-cp configuration: defaults, overlaid by a YAML file (`--config-file`, Kuma's
 * nested keys), overlaid by KUMA_* environment variables. `loadConfig` is pure: it
 * reads nothing but its arguments, so every rule here is unit-testable.
 *
 * Supported keys (file key = env var = default):
 *   mode                               KUMA_MODE                                   standalone (global | zone | remote = zone)
 *   store.type                         KUMA_STORE_TYPE                             sqlite (memory | postgres)
 *   store.postgres.host                KUMA_STORE_POSTGRES_HOST                    127.0.0.1
 *   store.postgres.port                KUMA_STORE_POSTGRES_PORT                    5432
 *   store.postgres.user / password     KUMA_STORE_POSTGRES_USER / _PASSWORD        kuma / kuma
 *   store.postgres.dbName              KUMA_STORE_POSTGRES_DB_NAME                 kuma
 *   store.postgres.connectionTimeout   KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT      5 (seconds)
 *   store.postgres.maxOpenConnections  KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS    50 (0 = unlimited)
 *   store.postgres.tls.mode            KUMA_STORE_POSTGRES_TLS_MODE                disable (verifyNone | verifyCa | verifyFull)
 *   store.postgres.tls.certPath / keyPath / caPath   KUMA_STORE_POSTGRES_TLS_CERT_PATH / _KEY_PATH / _CA_PATH   unset
 *   general.workDir                    KUMA_GENERAL_WORK_DIR                       $HOME/.kuma
 *   general.tlsCertFile / tlsKeyFile   KUMA_GENERAL_TLS_CERT_FILE / _KEY_FILE      generated in the work dir
 *   apiServer.http.port                KUMA_API_SERVER_HTTP_PORT                   5681
 *   apiServer.http.interface           KUMA_API_SERVER_HTTP_INTERFACE              0.0.0.0
 *   dpServer.port                      KUMA_DP_SERVER_PORT                         5678
 *   dpServer.plaintextPort             KUMA_DP_SERVER_PLAINTEXT_PORT               off
 *   dpServer.authn.dpProxy.type        KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE          dpToken (none)
 *   dnsServer.port                     KUMA_DNS_SERVER_PORT                        5653
 *   dnsServer.CIDR                     KUMA_DNS_SERVER_CIDR                        240.0.0.0/4
 *   dnsServer.serviceVipPort           KUMA_DNS_SERVER_SERVICE_VIP_PORT            80
 *   diagnostics.serverPort             KUMA_DIAGNOSTICS_SERVER_PORT                5680
 *   multizone.global.kds.grpcPort      KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT         5685
 *   multizone.zone.name                KUMA_MULTIZONE_ZONE_NAME                    (required in zone mode)
 *   multizone.zone.globalAddress       KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS          unset (grpcs://host:port)
 *   multizone.zone.kds.rootCaFile      KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE        unset
 *   multizone.zone.kds.auth.cpTokenPath    KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH   unset
 *   multizone.zone.kds.auth.cpTokenInline  KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_INLINE unset
 *   defaults.skipMeshCreation          KUMA_DEFAULTS_SKIP_MESH_CREATION            false
 * Port 0 means "pick a free port" (for tests); the chosen port is logged.
 */
import net from 'node:net';
import YAML from 'yaml';
import { UsageError } from '../../lib/errors';
import * as E from './env';
import type { PostgresStoreConfig } from '../store/postgres-store';

/** The CP's mode; `remote` is accepted on input and normalised to `zone`. */
export type CpMode = 'standalone' | 'global' | 'zone';
/** Store engines. */
export type StoreType = 'memory' | 'sqlite' | 'postgres';

/** The typed configuration every CP component receives. */
export interface CpConfig {
  mode: CpMode;
  store: { type: StoreType; postgres: PostgresStoreConfig };
  general: { workDir: string; tlsCertFile?: string; tlsKeyFile?: string };
  apiServer: { http: { port: number; interface: string } };
  dpServer: { port: number; plaintextPort?: number; authn: { dpProxy: { type: 'dpToken' | 'none' } } };
  dnsServer: { port: number; CIDR: string; serviceVipPort: number };
  diagnostics: { serverPort: number };
  multizone: {
    global: { kds: { grpcPort: number } };
    zone: {
      name?: string;
      globalAddress?: string;
      kds: { rootCaFile?: string; auth: { cpTokenPath?: string; cpTokenInline?: string } };
    };
  };
  defaults: { skipMeshCreation: boolean };
}

type Parsed = string | number | boolean;
/** Turns a raw value (env string or YAML scalar) into a typed one, or returns an error text naming what is valid. */
type Parser = (raw: unknown) => { value: Parsed } | { error: string };

function portParser(raw: unknown): { value: Parsed } | { error: string } {
  const s = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : undefined;
  if (s === undefined || !/^\d{1,5}$/.test(s) || Number(s) > 65535) {
    return { error: 'must be an integer port in 0..65535 (0 picks a free port)' };
  }
  return { value: Number(s) };
}

function enumParser(values: readonly string[]): Parser {
  return (raw) => (typeof raw === 'string' && values.includes(raw) ? { value: raw } : { error: `must be one of ${values.join(', ')}` });
}

function stringParser(raw: unknown): { value: Parsed } | { error: string } {
  if (typeof raw !== 'string' || raw.length === 0) return { error: 'must be a non-empty string' };
  return { value: raw };
}

function boolParser(raw: unknown): { value: Parsed } | { error: string } {
  if (raw === true || raw === 'true') return { value: true };
  if (raw === false || raw === 'false') return { value: false };
  return { error: 'must be true or false' };
}

function cidrParser(raw: unknown): { value: Parsed } | { error: string } {
  const m = typeof raw === 'string' ? /^([^/]+)\/(\d{1,3})$/.exec(raw) : null;
  const family = m ? net.isIP(m[1]) : 0;
  const bits = m ? Number(m[2]) : -1;
  if (!m || family === 0 || bits > (family === 4 ? 32 : 128)) {
    return { error: 'must be a CIDR such as 240.0.0.0/4' };
  }
  return { value: raw as string };
}

function zoneNameParser(raw: unknown): { value: Parsed } | { error: string } {
  // Zone names end up in tags (kuma.io/zone), SNI and resource names: keep them DNS-label-like.
  if (typeof raw !== 'string' || !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(raw)) {
    return { error: 'must be lower-case letters, digits, "-" or "." (start and end alphanumeric), e.g. zone-1' };
  }
  return { value: raw };
}

function kdsAddressParser(raw: unknown): { value: Parsed } | { error: string } {
  let u: URL | undefined;
  try {
    u = typeof raw === 'string' ? new URL(raw) : undefined;
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'grpcs:' && u.protocol !== 'grpc:') || !u.hostname || !u.port) {
    return { error: 'must be a URL grpcs://host:port (or grpc://host:port), e.g. grpcs://127.0.0.1:5685' };
  }
  return { value: raw as string };
}

function positiveIntParser(raw: unknown): { value: Parsed } | { error: string } {
  const s = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : undefined;
  if (s === undefined || !/^\d{1,9}$/.test(s) || Number(s) < 1) return { error: 'must be a whole number of at least 1' };
  return { value: Number(s) };
}

function countParser(raw: unknown): { value: Parsed } | { error: string } {
  const s = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : undefined;
  if (s === undefined || !/^\d{1,9}$/.test(s)) return { error: 'must be a whole number (0 = unlimited)' };
  return { value: Number(s) };
}

function serverPortParser(raw: unknown): { value: Parsed } | { error: string } {
  const r = portParser(raw);
  return 'value' in r && r.value === 0 ? { error: 'must be an integer port in 1..65535' } : 'error' in r ? { error: 'must be an integer port in 1..65535' } : r;
}

// YAML turns `password: 1234` into a number; a password is whatever text the user wrote.
function secretParser(raw: unknown): { value: Parsed } | { error: string } {
  if (typeof raw === 'number') return { value: String(raw) };
  return typeof raw === 'string' ? { value: raw } : { error: 'must be a string' };
}

/** One setting: its file key (dotted path in CpConfig), env var and parser. */
interface Setting {
  key: string;
  env: string;
  parse: Parser;
  /** Never echo the value in an error (passwords). */
  secret?: boolean;
}

/** Every supported setting, in documentation order. */
const SETTINGS: readonly Setting[] = [
  { key: 'mode', env: E.KUMA_MODE, parse: enumParser(['standalone', 'global', 'zone', 'remote']) },
  { key: 'store.type', env: E.KUMA_STORE_TYPE, parse: enumParser(['memory', 'sqlite', 'postgres']) },
  { key: 'store.postgres.host', env: E.KUMA_STORE_POSTGRES_HOST, parse: stringParser },
  { key: 'store.postgres.port', env: E.KUMA_STORE_POSTGRES_PORT, parse: serverPortParser },
  { key: 'store.postgres.user', env: E.KUMA_STORE_POSTGRES_USER, parse: stringParser },
  { key: 'store.postgres.password', env: E.KUMA_STORE_POSTGRES_PASSWORD, parse: secretParser, secret: true },
  { key: 'store.postgres.dbName', env: E.KUMA_STORE_POSTGRES_DB_NAME, parse: stringParser },
  { key: 'store.postgres.connectionTimeout', env: E.KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT, parse: positiveIntParser },
  { key: 'store.postgres.maxOpenConnections', env: E.KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS, parse: countParser },
  { key: 'store.postgres.tls.mode', env: E.KUMA_STORE_POSTGRES_TLS_MODE, parse: enumParser(['disable', 'verifyNone', 'verifyCa', 'verifyFull']) },
  { key: 'store.postgres.tls.certPath', env: E.KUMA_STORE_POSTGRES_TLS_CERT_PATH, parse: stringParser },
  { key: 'store.postgres.tls.keyPath', env: E.KUMA_STORE_POSTGRES_TLS_KEY_PATH, parse: stringParser },
  { key: 'store.postgres.tls.caPath', env: E.KUMA_STORE_POSTGRES_TLS_CA_PATH, parse: stringParser },
  { key: 'general.workDir', env: E.KUMA_GENERAL_WORK_DIR, parse: stringParser },
  { key: 'general.tlsCertFile', env: E.KUMA_GENERAL_TLS_CERT_FILE, parse: stringParser },
  { key: 'general.tlsKeyFile', env: E.KUMA_GENERAL_TLS_KEY_FILE, parse: stringParser },
  { key: 'apiServer.http.port', env: E.KUMA_API_SERVER_HTTP_PORT, parse: portParser },
  {
    key: 'apiServer.http.interface',
    env: E.KUMA_API_SERVER_HTTP_INTERFACE,
    parse: (raw) => (typeof raw === 'string' && net.isIP(raw) !== 0 ? { value: raw } : { error: 'must be an IP address such as 0.0.0.0 or 127.0.0.1' }),
  },
  { key: 'dpServer.port', env: E.KUMA_DP_SERVER_PORT, parse: portParser },
  { key: 'dpServer.plaintextPort', env: E.KUMA_DP_SERVER_PLAINTEXT_PORT, parse: portParser },
  { key: 'dpServer.authn.dpProxy.type', env: E.KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE, parse: enumParser(['dpToken', 'none']) },
  { key: 'dnsServer.port', env: E.KUMA_DNS_SERVER_PORT, parse: portParser },
  { key: 'dnsServer.CIDR', env: E.KUMA_DNS_SERVER_CIDR, parse: cidrParser },
  { key: 'dnsServer.serviceVipPort', env: E.KUMA_DNS_SERVER_SERVICE_VIP_PORT, parse: portParser },
  { key: 'diagnostics.serverPort', env: E.KUMA_DIAGNOSTICS_SERVER_PORT, parse: portParser },
  { key: 'multizone.global.kds.grpcPort', env: E.KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT, parse: portParser },
  { key: 'multizone.zone.name', env: E.KUMA_MULTIZONE_ZONE_NAME, parse: zoneNameParser },
  { key: 'multizone.zone.globalAddress', env: E.KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS, parse: kdsAddressParser },
  { key: 'multizone.zone.kds.rootCaFile', env: E.KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE, parse: stringParser },
  { key: 'multizone.zone.kds.auth.cpTokenPath', env: E.KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH, parse: stringParser },
  { key: 'multizone.zone.kds.auth.cpTokenInline', env: E.KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_INLINE, parse: stringParser },
  { key: 'defaults.skipMeshCreation', env: E.KUMA_DEFAULTS_SKIP_MESH_CREATION, parse: boolParser },
];

/** The file keys loadConfig understands, sorted (for docs and unknown-key warnings). */
export const SUPPORTED_CONFIG_KEYS: readonly string[] = SETTINGS.map((s) => s.key).sort();

/** The defaults; `workDir` depends on HOME, so it is filled in by loadConfig. */
export function defaultConfig(workDir: string): CpConfig {
  return {
    mode: 'standalone',
    store: {
      type: 'sqlite',
      // Kuma's defaults (kuma-cp.defaults.yaml), port 5432 as in current Kuma.
      postgres: { host: '127.0.0.1', port: 5432, user: 'kuma', password: 'kuma', dbName: 'kuma', connectionTimeout: 5, maxOpenConnections: 50, tls: { mode: 'disable' } },
    },
    general: { workDir },
    apiServer: { http: { port: 5681, interface: '0.0.0.0' } },
    dpServer: { port: 5678, authn: { dpProxy: { type: 'dpToken' } } },
    dnsServer: { port: 5653, CIDR: '240.0.0.0/4', serviceVipPort: 80 },
    diagnostics: { serverPort: 5680 },
    multizone: { global: { kds: { grpcPort: 5685 } }, zone: { kds: { auth: {} } } },
    defaults: { skipMeshCreation: false },
  };
}

function getPath(obj: unknown, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function setPath(obj: Record<string, any>, key: string, value: Parsed): void {
  const parts = key.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) cur = cur[part] ??= {};
  cur[parts[parts.length - 1]] = value;
}

function show(raw: unknown): string {
  return typeof raw === 'string' ? JSON.stringify(raw) : JSON.stringify(raw) ?? String(raw);
}

function parseFile(fileText: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = YAML.parse(fileText);
  } catch (err) {
    throw new UsageError(`config file is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError('config file must be a YAML mapping (e.g. "apiServer:\\n  http:\\n    port: 5681")');
  return doc as Record<string, unknown>;
}

/** Dotted keys of the file that loadConfig ignores (not supported here); sorted. */
export function unknownConfigKeys(fileText: string): string[] {
  const out: string[] = [];
  const known = new Set(SUPPORTED_CONFIG_KEYS);
  const prefixes = new Set(SUPPORTED_CONFIG_KEYS.flatMap((k) => k.split('.').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('.'))));
  const walk = (node: unknown, prefix: string) => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
    for (const [k, v] of Object.entries(node)) {
      const key = prefix ? `${prefix}.${k}` : k;
      if (known.has(key)) continue;
      if (prefixes.has(key)) walk(v, key);
      else out.push(key);
    }
  };
  walk(parseFile(fileText), '');
  return out.sort();
}

/**
 * Builds the configuration: defaults < file (YAML text, Kuma's keys) < env. Throws
 * UsageError naming the env var or file key, the bad value and what is valid.
 */
export function loadConfig(env: Record<string, string | undefined>, fileText?: string): CpConfig {
  const file = fileText !== undefined ? parseFile(fileText) : {};
  const home = env[E.HOME];
  const cfg = defaultConfig(home ? `${home.replace(/\/+$/, '')}/.kuma` : '') as unknown as Record<string, any>;
  for (const s of SETTINGS) {
    const fromFile = getPath(file, s.key);
    if (fromFile !== undefined && fromFile !== null) {
      const r = s.parse(fromFile);
      if ('error' in r) throw new UsageError(`config file key ${s.key}: ${s.secret ? '(value hidden)' : show(fromFile)} ${r.error}`);
      setPath(cfg, s.key, r.value);
    }
    const fromEnv = env[s.env];
    if (fromEnv !== undefined && fromEnv !== '') {
      const r = s.parse(fromEnv);
      if ('error' in r) throw new UsageError(`${s.env}=${s.secret ? '(value hidden)' : show(fromEnv)}: ${r.error}`);
      setPath(cfg, s.key, r.value);
    }
  }
  const config = cfg as unknown as CpConfig;
  if ((config.mode as string) === 'remote') config.mode = 'zone';
  if (!config.general.workDir) {
    throw new UsageError(`${E.KUMA_GENERAL_WORK_DIR} is not set and neither is ${E.HOME} (the default work dir is $HOME/.kuma)`);
  }
  if (config.mode === 'zone' && !config.multizone.zone.name) {
    throw new UsageError(`${E.KUMA_MODE}=zone needs a zone name: set ${E.KUMA_MULTIZONE_ZONE_NAME} (file key multizone.zone.name)`);
  }
  const pgTls = config.store.postgres.tls;
  if (Boolean(pgTls.certPath) !== Boolean(pgTls.keyPath)) {
    throw new UsageError(`${E.KUMA_STORE_POSTGRES_TLS_CERT_PATH} and ${E.KUMA_STORE_POSTGRES_TLS_KEY_PATH} must be set together (client certificate and its key), or neither`);
  }
  if (Boolean(config.general.tlsCertFile) !== Boolean(config.general.tlsKeyFile)) {
    throw new UsageError(`${E.KUMA_GENERAL_TLS_CERT_FILE} and ${E.KUMA_GENERAL_TLS_KEY_FILE} must be set together (or neither, to generate them)`);
  }
  return config;
}
