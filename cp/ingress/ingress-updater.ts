/**
 * Keeps the `availableServices` of a zone's own ZoneIngresses equal to what the
 * zone's dataplanes offer: recomputed (debounced) whenever a Dataplane or a local
 * ZoneIngress changes, written only when different, so that its own write does not
 * wake it again.
 */
import type { Component } from '../../lib/component';
import type { Logger } from '../../lib/logger';
import { ConflictError, NotFoundError } from '../../lib/errors';
import type { ResourceStore } from '../store/store';
import { canonicalJson } from '../kds/codec';
import { isFromGlobal } from '../kds/sync-policy';
import { computeAvailableServices } from './available-services';

/** Options of the updater. */
export interface IngressUpdaterOptions {
  store: ResourceStore;
  log: Logger;
  zone: string;
  /** Debounce in ms (default 100). */
  debounceMs?: number;
}

/** The availableServices updater of a zone CP. */
export class IngressUpdater implements Component {
  readonly name = 'ingress-updater';
  private unwatch?: () => void;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private closed = false;

  constructor(private readonly opts: IngressUpdaterOptions) {}

  async start(): Promise<void> {
    this.unwatch = this.opts.store.watch((ev) => {
      const t = ev.resource.meta.type;
      if (t === 'Dataplane' || (t === 'ZoneIngress' && !isFromGlobal('ZoneIngress', this.opts.zone, ev.resource))) this.schedule();
    });
    await this.recompute();
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.recompute();
    }, this.opts.debounceMs ?? 100);
  }

  /** Recomputes now (serialised with any run in progress). */
  recompute(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.update()
      .catch((err) => this.opts.log.error({ err: (err as Error).message }, 'could not update ZoneIngress availableServices'))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.closed) {
          this.again = false;
          this.schedule();
        }
      });
    return this.running;
  }

  private async update(): Promise<void> {
    const { store, zone, log } = this.opts;
    const services = computeAvailableServices(await store.list('Dataplane'));
    const want = canonicalJson(services);
    for (const ingress of await store.list('ZoneIngress')) {
      if (isFromGlobal('ZoneIngress', zone, ingress)) continue;
      if (canonicalJson(ingress.spec.availableServices ?? []) === want && ingress.spec.zone === zone) continue;
      const spec: Record<string, any> = { ...ingress.spec, zone };
      if (services.length > 0) spec.availableServices = services;
      else delete spec.availableServices;
      try {
        await store.update(
          { type: 'ZoneIngress', name: ingress.meta.name, labels: ingress.meta.labels, spec },
          { expectedVersion: ingress.meta.version },
        );
        log.info({ zoneIngress: ingress.meta.name, services: services.length }, 'ZoneIngress availableServices updated');
      } catch (err) {
        // Changed or deleted under us: the store event schedules another round.
        if (!(err instanceof ConflictError) && !(err instanceof NotFoundError)) throw err;
        this.again = true;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unwatch?.();
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  destroy(): void {
    this.closed = true;
    this.unwatch?.();
    if (this.timer) clearTimeout(this.timer);
  }
}
