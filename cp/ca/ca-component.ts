/**
 * Keeps every mesh's builtin CA in place: on start and whenever a Mesh is created or
 * updated, the CA secrets of each builtin backend are created if missing (Kuma creates
 * them with the mesh, so `kumactl get secrets` shows them before any dataplane connects).
 * Failures are logged and retried on the next change; they never stop the CP.
 */
import type { Component } from '../../lib/component';
import { silentLogger, type Logger } from '../../lib/logger';
import type { Resource } from '../../api/resource';
import type { ResourceStore, StoreEvent } from '../store/store';
import { meshMtls } from './mesh-mtls';
import type { CaManager } from './types';

/** Options of CaComponent. */
export interface CaComponentOptions {
  store: ResourceStore;
  ca: CaManager;
  log?: Logger;
}

/** Ensures builtin CA secrets for every mesh, on start and on Mesh changes. */
export class CaComponent implements Component {
  readonly name = 'mesh-ca';
  private unsubscribe?: () => void;
  private readonly inflight = new Set<Promise<void>>();
  private readonly log: Logger;

  constructor(private readonly opts: CaComponentOptions) {
    this.log = opts.log ?? silentLogger();
  }

  /** Ensures the CAs of existing meshes, then follows Mesh changes. */
  async start(): Promise<void> {
    this.unsubscribe = this.opts.store.watch((ev) => this.onEvent(ev));
    for (const m of await this.opts.store.list('Mesh')) await this.ensureMesh(m);
  }

  private onEvent(ev: StoreEvent): void {
    if (ev.resource.meta.type !== 'Mesh' || ev.kind === 'delete') return;
    const p = this.ensureMesh(ev.resource).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Creates missing CA secrets for every builtin backend of one mesh; logs failures. */
  private async ensureMesh(mesh: Resource): Promise<void> {
    for (const b of meshMtls(mesh.spec).backends) {
      if (b.type !== 'builtin') continue;
      try {
        await this.opts.ca.ensureCa(mesh.meta.name, b.name);
      } catch (err) {
        this.log.error({ mesh: mesh.meta.name, backend: b.name, err: (err as Error).message }, 'cannot ensure the mesh CA');
      }
    }
  }

  /** Stops following changes and waits for CA creations under way. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await Promise.allSettled([...this.inflight]);
  }

  /** Stops following changes. */
  destroy(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
