/**
 * kumactl's own config file (`~/.kumactl/config`, YAML, Kuma's shape):
 *   controlPlanes: [{name, coordinates: {apiServer: {url}}}]
 *   contexts: [{name, controlPlane}]
 *   currentContext: NAME
 * Pure transforms plus load/save; a missing file means Kuma's default (`local` at
 * http://localhost:5681).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { UsageError } from '../lib/errors';

/** One control plane kumactl knows. */
export interface ControlPlaneEntry {
  name: string;
  coordinates: { apiServer: { url: string } };
}

/** One context: a name and the control plane it points at. */
export interface ContextEntry {
  name: string;
  controlPlane: string;
}

/** The whole config file. */
export interface KumactlConfig {
  controlPlanes: ControlPlaneEntry[];
  contexts: ContextEntry[];
  currentContext: string;
}

/** Kuma's default when there is no config file. */
export function defaultKumactlConfig(): KumactlConfig {
  return {
    controlPlanes: [{ name: 'local', coordinates: { apiServer: { url: 'http://localhost:5681' } } }],
    contexts: [{ name: 'local', controlPlane: 'local' }],
    currentContext: 'local',
  };
}

/** The default path: `$HOME/.kumactl/config`. */
export function defaultConfigPath(home: string | undefined): string {
  if (!home) throw new UsageError('HOME is not set; pass --config-file');
  return path.join(home, '.kumactl', 'config');
}

/** Checks an API server URL: http(s) with a host. */
export function checkApiUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--address ${JSON.stringify(raw)} is not a URL; expected e.g. http://127.0.0.1:5681`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
    throw new UsageError(`--address ${JSON.stringify(raw)} must be an http:// or https:// URL, e.g. http://127.0.0.1:5681`);
  }
  return raw.replace(/\/+$/, '');
}

/** Parses the file text; UsageError naming the file and what is wrong. */
export function parseKumactlConfig(text: string, file: string): KumactlConfig {
  let doc: any;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (doc === null || doc === undefined) return defaultKumactlConfig();
  const bad = (what: string) => new UsageError(`${file}: ${what}`);
  if (typeof doc !== 'object' || Array.isArray(doc)) throw bad('must be a mapping with controlPlanes, contexts and currentContext');
  const cps = doc.controlPlanes ?? [];
  const ctxs = doc.contexts ?? [];
  if (!Array.isArray(cps)) throw bad('controlPlanes must be a list');
  if (!Array.isArray(ctxs)) throw bad('contexts must be a list');
  cps.forEach((c: any, i: number) => {
    if (typeof c?.name !== 'string' || typeof c?.coordinates?.apiServer?.url !== 'string') throw bad(`controlPlanes[${i}] needs name and coordinates.apiServer.url`);
  });
  ctxs.forEach((c: any, i: number) => {
    if (typeof c?.name !== 'string' || typeof c?.controlPlane !== 'string') throw bad(`contexts[${i}] needs name and controlPlane`);
  });
  return {
    controlPlanes: cps.map((c: any) => ({ name: c.name, coordinates: { apiServer: { url: c.coordinates.apiServer.url } } })),
    contexts: ctxs.map((c: any) => ({ name: c.name, controlPlane: c.controlPlane })),
    currentContext: typeof doc.currentContext === 'string' ? doc.currentContext : '',
  };
}

/** Reads the config (or the default when the file does not exist). */
export function loadKumactlConfig(file: string): KumactlConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return defaultKumactlConfig();
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseKumactlConfig(text, file);
}

/** Writes the config atomically (temp file + rename), readable by the user only. */
export function saveKumactlConfig(file: string, cfg: KumactlConfig): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, YAML.stringify(cfg), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Adds a control plane and a context of the same name and makes it current; refuses to replace one unless overwrite. */
export function addControlPlane(cfg: KumactlConfig, name: string, url: string, overwrite: boolean): KumactlConfig {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new UsageError(`--name ${JSON.stringify(name)}: use letters, digits, '.', '_' or '-'`);
  const exists = cfg.controlPlanes.some((c) => c.name === name);
  if (exists && !overwrite) throw new UsageError(`control plane ${JSON.stringify(name)} already exists; pass --overwrite to replace it`);
  return {
    controlPlanes: [...cfg.controlPlanes.filter((c) => c.name !== name), { name, coordinates: { apiServer: { url } } }],
    contexts: [...cfg.contexts.filter((c) => c.name !== name), { name, controlPlane: name }],
    currentContext: name,
  };
}

/** Makes the context of that control plane current. */
export function switchControlPlane(cfg: KumactlConfig, name: string): KumactlConfig {
  const ctx = cfg.contexts.find((c) => c.controlPlane === name || c.name === name);
  if (!ctx || !cfg.controlPlanes.some((c) => c.name === ctx.controlPlane)) {
    const known = cfg.controlPlanes.map((c) => c.name).join(', ') || 'none';
    throw new UsageError(`there is no control plane ${JSON.stringify(name)}; known: ${known}`);
  }
  return { ...cfg, currentContext: ctx.name };
}

/** The API server URL of the current context. */
export function currentApiUrl(cfg: KumactlConfig): string {
  const ctx = cfg.contexts.find((c) => c.name === cfg.currentContext);
  const cp = ctx && cfg.controlPlanes.find((c) => c.name === ctx.controlPlane);
  if (!cp) throw new UsageError(`current context ${JSON.stringify(cfg.currentContext)} has no control plane; run kumactl config control-planes add`);
  return cp.coordinates.apiServer.url;
}
