/**
 * Lifecycle of long-running pieces. Every server, watcher and proxy is a Component;
 * a Manager starts them in order and stops them in reverse, with a deadline, so that
 * shutdown is predictable (Kuma's component manager, linkerd's drain handle).
 */
import type { Logger } from './logger';

/** Anything with a start, a graceful close and a forceful destroy. */
export interface Component {
  /** Short name for logs. */
  readonly name: string;
  /** Binds and begins work; resolves when ready to serve. */
  start(): Promise<void>;
  /** Stops accepting work and waits for in-flight work to finish. */
  close(): Promise<void>;
  /** Aborts immediately; must not throw. */
  destroy(): void;
}

/** Starts components in order and stops them in reverse order within a deadline. */
export class ComponentManager {
  private readonly components: Component[] = [];
  private readonly started: Component[] = [];
  constructor(private readonly log: Logger) {}

  /** Adds a component; it starts after those added before it. */
  add(c: Component): this {
    this.components.push(c);
    return this;
  }

  /** Starts every component; on a failure, stops those already started and rethrows. */
  async start(): Promise<void> {
    for (const c of this.components) {
      try {
        await c.start();
        this.started.push(c);
        this.log.debug({ component: c.name }, 'component started');
      } catch (err) {
        this.log.error({ component: c.name, err }, 'component failed to start');
        await this.stop(5000);
        throw err;
      }
    }
  }

  /** Closes started components in reverse order; past the deadline, destroys the rest. */
  async stop(deadlineMs = 10_000): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    while (this.started.length > 0) {
      const c = this.started.pop()!;
      const left = deadline - Date.now();
      if (left <= 0) {
        c.destroy();
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), left);
      });
      try {
        const r = await Promise.race([c.close().then(() => 'ok' as const), timedOut]);
        if (r === 'timeout') {
          this.log.warn({ component: c.name }, 'component did not close in time; destroying');
          c.destroy();
        }
      } catch (err) {
        this.log.warn({ component: c.name, err }, 'component close failed; destroying');
        c.destroy();
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
