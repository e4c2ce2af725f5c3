/**
 * Finding Envoy the way func-e lays it out (func-e CONFIG.md): an explicit
 * --binary-path; else the selected version ($ENVOY_VERSION, ./.envoy-version,
 * $FUNC_E_CONFIG_HOME/envoy-version, legacy $FUNC_E_HOME/version) looked up under
 * $FUNC_E_DATA_HOME/envoy-versions/<v>/bin/envoy and legacy $FUNC_E_HOME/versions/<v>/bin/envoy,
 * or the newest installed version when none is selected; else `envoy` on PATH.
 * Pure apart from the injected file checks.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Env } from '../cli/env';

/** Where discovery looks; replaceable in tests. */
export interface DiscoveryDeps {
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  /** True for an executable regular file. */
  isExecutable: (p: string) => boolean;
  readText: (p: string) => string | undefined;
  listDir: (p: string) => string[];
}

/** The outcome: a path, or the places searched (for the error message). */
export interface DiscoveryResult {
  path?: string;
  /** How it was found, for the log line. */
  how?: string;
  searched: string[];
}

/** The real file system and environment. */
export function defaultDiscoveryDeps(): DiscoveryDeps {
  return {
    env: process.env,
    cwd: process.cwd(),
    home: os.homedir(),
    isExecutable: (p) => {
      try {
        const st = fs.statSync(p);
        if (!st.isFile()) return false;
        fs.accessSync(p, fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
    readText: (p) => {
      try {
        return fs.readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    },
    listDir: (p) => {
      try {
        return fs.readdirSync(p);
      } catch {
        return [];
      }
    },
  };
}

/** Finds Envoy; `binaryPath` is --binary-path when given. */
export function discoverEnvoy(binaryPath: string | undefined, d: DiscoveryDeps = defaultDiscoveryDeps()): DiscoveryResult {
  const searched: string[] = [];
  const tryPath = (p: string, how: string): DiscoveryResult | undefined => {
    searched.push(p);
    return d.isExecutable(p) ? { path: p, how, searched } : undefined;
  };
  if (binaryPath !== undefined && binaryPath !== '') {
    if (binaryPath.includes('/')) return tryPath(path.resolve(d.cwd, binaryPath), '--binary-path') ?? { searched };
    return onPath(binaryPath, '--binary-path (PATH lookup)') ?? { searched };
  }

  const configHome = d.env[Env.funcEConfigHome] || path.join(d.home, '.config', 'func-e');
  const dataHome = d.env[Env.funcEDataHome] || path.join(d.home, '.local', 'share', 'func-e');
  const legacyHome = d.env[Env.funcEHome] || path.join(d.home, '.func-e');
  const versionsDirs = [path.join(dataHome, 'envoy-versions'), path.join(legacyHome, 'versions')];

  const selected = selectedVersion();
  if (selected) {
    for (const dir of versionsDirs) {
      const r = tryPath(path.join(dir, selected.version, 'bin', 'envoy'), `func-e version ${selected.version} from ${selected.from}`);
      if (r) return r;
    }
  } else {
    // Nothing selected: func-e would run the newest installed version.
    for (const dir of versionsDirs) {
      const versions = d.listDir(dir).filter((v) => /^\d+\.\d+\.\d+/.test(v)).sort(compareVersions).reverse();
      if (versions.length === 0) searched.push(path.join(dir, '<version>', 'bin', 'envoy'));
      for (const v of versions) {
        const r = tryPath(path.join(dir, v, 'bin', 'envoy'), `newest func-e install ${v}`);
        if (r) return r;
      }
    }
  }
  return onPath('envoy', 'PATH') ?? { searched };

  function selectedVersion(): { version: string; from: string } | undefined {
    const fromEnv = d.env[Env.envoyVersion]?.trim();
    if (fromEnv) return { version: fromEnv, from: `$${Env.envoyVersion}` };
    const candidates = [
      path.join(d.cwd, '.envoy-version'),
      path.join(configHome, 'envoy-version'),
      ...(d.env[Env.funcEHome] ? [path.join(d.env[Env.funcEHome]!, 'version')] : []),
    ];
    for (const f of candidates) {
      const text = d.readText(f);
      searched.push(`${f} (version file)`);
      const v = text?.trim();
      if (v) return { version: v, from: f };
    }
    return undefined;
  }

  function onPath(name: string, how: string): DiscoveryResult | undefined {
    for (const dir of (d.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
      const r = tryPath(path.join(dir, name), how);
      if (r) return r;
    }
    return undefined;
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
