#!/usr/bin/env node
/**
 * kuma-dp entry point: `run`, `version`, `help`. Usage errors print one line and exit
 * 64 (EX_USAGE); runtime failures exit 1; an engine that dies takes its status along.
 */
// First: its holds must be in place before any other module loads.
import { startHolds } from './start-hold';
import { KumaError, UsageError } from '../lib/errors';
import { rootHelp, runHelp } from './cli/help';
import { productVersion as kumaDpVersion } from '../lib/version';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const beforeDashes = rest.indexOf('--') >= 0 ? rest.slice(0, rest.indexOf('--')) : rest;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(rest[0] === 'run' ? runHelp() : rootHelp());
      return 0;
    case 'version':
    case '--version':
      process.stdout.write(`kuma-dp ${kumaDpVersion()}\n`);
      return 0;
    case 'run': {
      if (beforeDashes.includes('--help') || beforeDashes.includes('-h')) {
        process.stdout.write(runHelp());
        return 0;
      }
      // agent/start-hold.ts held the young generation's growth and the optimizing compiler
      // from the first line on, so that start-up does not size the idle proxy; released
      // (the compiler: watched for load) once the proxy is ready.
      // Loaded here so that `kuma-dp version` stays fast.
      const { runKumaDp } = await import('./run');
      return runKumaDp(rest, { onStarted: () => startHolds?.startupOver() });
    }
    default:
      throw new UsageError(`unknown command "${cmd}"; valid: run, version, help`);
  }
}

process.on('uncaughtException', (err) => {
  process.stderr.write(`kuma-dp: fatal: ${err.stack ?? err}\n`);
  // 'exit' handlers (the Envoy engine's) kill the proxy's process group.
  process.exit(70);
});
process.on('unhandledRejection', (err) => {
  process.stderr.write(`kuma-dp: fatal: unhandled rejection: ${(err as Error)?.stack ?? err}\n`);
  process.exit(70);
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`kuma-dp: error: ${err.message}\n`);
      process.exit(64);
    }
    const msg = err instanceof KumaError ? `${err.message} [${err.code}]` : (err as Error)?.message ?? String(err);
    process.stderr.write(`kuma-dp: error: ${msg}\n`);
    process.exit(1);
  },
);
