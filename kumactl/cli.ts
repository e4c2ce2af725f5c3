/**
 * kumactl's command table and dispatcher. `runKumactl` is the whole CLI as a function
 * of argv, environment and I/O, so tests can run it in-process as well as as a binary.
 * Exit codes: 0 ok, 1 failure (CP error, unreachable CP), 64 usage error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KumaError, UsageError } from '../lib/errors';
import { ApiClient, CpError } from './api-client';
import { flagsHelp, parseArgs, type FlagSpec } from './args';
import { applyCommand } from './commands/apply';
import { configCommand } from './commands/config';
import type { Command, CommandContext } from './commands/context';
import { deleteCommand } from './commands/delete';
import { generateCommand } from './commands/generate';
import { getCommand } from './commands/get';
import { inspectCommand } from './commands/inspect';
import { USER_TYPES } from './commands/resource-type';
import { checkApiUrl, currentApiUrl, defaultConfigPath, loadKumactlConfig } from './config-file';
import * as E from './env';

const FLAGS: Record<string, FlagSpec> = {
  'cp-address': { name: 'cp-address', kind: 'string', help: 'API server URL, overrides the current context' },
  'config-file': { name: 'config-file', kind: 'string', help: 'kumactl config (default $HOME/.kumactl/config)' },
  help: { name: 'help', short: 'h', kind: 'bool', help: 'show help' },
  mesh: { name: 'mesh', short: 'm', kind: 'string', help: 'mesh (default "default")' },
  output: { name: 'output', short: 'o', kind: 'string', help: 'table, yaml or json (default table)' },
  file: { name: 'file', short: 'f', kind: 'string', help: 'file with resources, or - for stdin' },
  var: { name: 'var', kind: 'list', help: 'key=value for {{ key }} placeholders (repeatable)' },
  name: { name: 'name', kind: 'string', help: 'name' },
  type: { name: 'type', kind: 'string', help: 'dataplane or ingress (default dataplane)' },
  'valid-for': { name: 'valid-for', kind: 'string', help: 'token lifetime, e.g. 24h' },
  zone: { name: 'zone', kind: 'string', help: 'zone name' },
  scope: { name: 'scope', kind: 'list', help: 'cp or ingress (repeatable; default both)' },
  address: { name: 'address', kind: 'string', help: 'API server URL, e.g. http://127.0.0.1:5681' },
  overwrite: { name: 'overwrite', kind: 'bool', help: 'replace an existing control plane of that name' },
  'skip-verify': { name: 'skip-verify', kind: 'bool', help: 'do not check that the address answers' },
};
const GLOBAL = ['cp-address', 'config-file', 'help'];

/** One command: its handler, the flags it accepts and a usage line. */
interface CommandEntry {
  run: Command;
  flags: string[];
  usage: string;
}

const TYPES_TEXT = USER_TYPES.map((d) => d.cliNames[1] ?? d.cliNames[0]).join(', ');

const COMMANDS: Record<string, CommandEntry> = {
  apply: { run: applyCommand, flags: ['file', 'var'], usage: 'apply -f FILE|- [--var key=value ...]' },
  get: { run: getCommand, flags: ['mesh', 'output'], usage: `get TYPE [NAME] [-m MESH] [-o table|yaml|json]   TYPE: ${TYPES_TEXT}` },
  delete: { run: deleteCommand, flags: ['mesh'], usage: 'delete TYPE NAME [-m MESH]' },
  inspect: { run: inspectCommand, flags: ['mesh', 'output'], usage: 'inspect dataplanes [-m MESH] | inspect zones' },
  generate: {
    run: generateCommand,
    flags: ['mesh', 'name', 'type', 'valid-for', 'zone', 'scope'],
    usage: 'generate dataplane-token --mesh M --name N [--type dataplane|ingress] [--valid-for 24h] | generate zone-token --zone Z [--scope cp|ingress] [--valid-for D]',
  },
  config: { run: configCommand, flags: ['name', 'address', 'overwrite', 'skip-verify'], usage: 'config control-planes add --name N --address URL [--overwrite] | list | switch --name N' },
};

/** The product version, from the nearest package.json. */
function version(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.name === 'kuma-ts') return String(pkg.version);
    } catch {
      // not here; look further up
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

function help(): string {
  const lines = Object.values(COMMANDS).map((c) => `  kumactl ${c.usage}`);
  return `kumactl: manage a Kuma-compatible control plane\n\nUsage:\n${lines.join('\n')}\n  kumactl version\n\nGlobal flags:\n${flagsHelp(GLOBAL.map((f) => FLAGS[f]))}\n`;
}

/** The process's I/O as the CLI sees it. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  now(): number;
}

/** Runs kumactl with argv (without node and script); resolves with the exit code. */
export async function runKumactl(argv: readonly string[], env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  try {
    const parsed = parseArgs(argv, Object.values(FLAGS));
    const [cmd, ...rest] = parsed.positionals;
    if (cmd === undefined || cmd === 'help') {
      io.out(help());
      return cmd === undefined && !parsed.bools.help ? 64 : 0;
    }
    if (cmd === 'version') {
      io.out(`${version()}\n`);
      return 0;
    }
    const entry = COMMANDS[cmd];
    if (!entry) throw new UsageError(`unknown command ${JSON.stringify(cmd)}; commands: ${Object.keys(COMMANDS).join(', ')}, version`);
    if (parsed.bools.help) {
      io.out(`Usage: kumactl ${entry.usage}\n\nFlags:\n${flagsHelp([...entry.flags, ...GLOBAL].map((f) => FLAGS[f]))}\n`);
      return 0;
    }
    const allowed = new Set([...entry.flags, ...GLOBAL]);
    const given = [...Object.keys(parsed.strings), ...Object.keys(parsed.bools), ...Object.keys(parsed.lists)];
    for (const f of given) if (!allowed.has(f)) throw new UsageError(`flag --${f} does not apply to ${cmd}; usage: kumactl ${entry.usage}`);

    const configPath = parsed.strings['config-file'] ?? defaultConfigPath(env[E.HOME]);
    let client: ApiClient | undefined;
    const ctx: CommandContext = {
      args: { ...parsed, positionals: rest },
      configPath,
      client: () => {
        if (!client) {
          const override = parsed.strings['cp-address'];
          client = new ApiClient(override !== undefined ? checkApiUrl(override) : currentApiUrl(loadKumactlConfig(configPath)));
        }
        return client;
      },
      out: io.out,
      err: io.err,
      readStdin: io.readStdin,
      now: io.now,
    };
    return await entry.run(ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`Error: ${err.message}\n`);
      return 64;
    }
    if (err instanceof CpError) {
      io.err(`Error: ${err.title}${err.details ? ` (${err.details})` : ''}\n`);
      for (const c of err.causes) io.err(`  ${c.field ? `${c.field}: ` : ''}${c.message}\n`);
      return 1;
    }
    if (err instanceof KumaError) {
      io.err(`Error: ${err.message}\n`);
      return 1;
    }
    io.err(`Error: unexpected failure: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  }
}
