/** Envoy's command line, built from explicit inputs (pure; tests assert it exactly). */

/** Inputs of Envoy's argv. */
export interface EnvoyArgsInput {
  configPath: string;
  drainTimeMs: number;
  logLevel: string;
  concurrency?: number;
  extraArgs: readonly string[];
}

/**
 * `--config-path <p> --drain-time-s <n> --disable-hot-restart --log-level <l> [--concurrency n] [extra...]`.
 * Hot restart is off because kuma-dp, not Envoy's hot-restarter, owns the process
 * (and two sidecars on one host would otherwise fight over the shared memory region).
 */
export function envoyArgs(i: EnvoyArgsInput): string[] {
  const args = [
    '--config-path', i.configPath,
    '--drain-time-s', String(Math.max(0, Math.ceil(i.drainTimeMs / 1000))),
    '--disable-hot-restart',
    '--log-level', i.logLevel,
  ];
  if (i.concurrency !== undefined) args.push('--concurrency', String(i.concurrency));
  return [...args, ...i.extraArgs];
}
