/** What every kumactl command receives: its parsed arguments and the process's I/O, injectable for tests. */
import type { ApiClient } from '../api-client';
import type { ParsedArgs } from '../args';

/** A command's view of the world. */
export interface CommandContext {
  args: ParsedArgs;
  /** The REST client of the selected CP (--cp-address, else the current context). */
  client(): ApiClient;
  /** Path of kumactl's config file. */
  configPath: string;
  out(text: string): void;
  err(text: string): void;
  /** Reads all of stdin (for `apply -f -`). */
  readStdin(): Promise<string>;
  now(): number;
}

/** A command: resolves with the exit code. */
export type Command = (ctx: CommandContext) => Promise<number>;
