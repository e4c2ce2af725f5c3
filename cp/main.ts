#!/usr/bin/env node
/**
 * kuma-cp command line: `kuma-cp run [--config-file f] [--log-level l]`, `kuma-cp version`,
 * `kuma-cp --help`. Exit codes: 0 ok, 1 runtime failure, 64 usage error.
 */
import { productVersion } from '../lib/version';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, runControlPlane, type RunOptions } from './run';

const HELP = `kuma-cp: the control plane of a Kuma-compatible service mesh

Usage:
  kuma-cp run [--config-file FILE] [--log-level LEVEL]
  kuma-cp version
  kuma-cp --help

Flags of run:
  --config-file FILE   YAML config with Kuma's keys (apiServer.http.port, store.type, ...)
  --log-level LEVEL    trace, debug, info (default), warn, error

Environment (wins over the config file):
  KUMA_MODE=standalone|global|zone|remote     KUMA_STORE_TYPE=memory|sqlite|postgres (default sqlite)
  KUMA_GENERAL_WORK_DIR (default $HOME/.kuma) KUMA_API_SERVER_HTTP_PORT (5681)
  KUMA_DP_SERVER_PORT (5678)                  KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT (5685)
  KUMA_DNS_SERVER_PORT (5653)                 KUMA_MULTIZONE_ZONE_NAME, KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS
  See cp/config/config.ts for every supported key.
`;

function usage(message: string): number {
  process.stderr.write(`kuma-cp: ${message}\nRun 'kuma-cp --help' for usage.\n`);
  return EXIT_USAGE;
}

/** Parses argv and runs the command; resolves with the exit code. */
async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (cmd === 'version' || cmd === '--version') {
    process.stdout.write(`${productVersion()}\n`);
    return EXIT_OK;
  }
  if (cmd !== 'run') return usage(`unknown command ${JSON.stringify(cmd)}; commands: run, version`);
  const opts: RunOptions = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(HELP);
      return EXIT_OK;
    }
    const m = /^(--[a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m || (m[1] !== '--config-file' && m[1] !== '--log-level')) return usage(`unknown flag ${JSON.stringify(arg)} for run; flags: --config-file, --log-level`);
    const value = m[2] ?? rest[++i];
    if (value === undefined || value === '') return usage(`flag ${m[1]} needs a value`);
    if (m[1] === '--config-file') opts.configFile = value;
    else opts.logLevel = value;
  }
  return runControlPlane(opts);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`kuma-cp: unexpected failure: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(EXIT_FAILURE);
  },
);
