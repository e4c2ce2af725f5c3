/**
 * Structured logging: one JSON line per event (pino). Components take a child logger
 * bound to their name, and add mesh, dataplane and zone where they apply.
 */
import pino from 'pino';

/** The logger type every component receives. */
export type Logger = pino.Logger;

/** Creates the process root logger. `KUMA_LOG_LEVEL` overrides the level; logs go to stderr. */
export function createLogger(name: string, level?: string): Logger {
  return pino(
    {
      name,
      level: level ?? process.env.KUMA_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}

/** A logger that drops everything: for pure code under test. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
