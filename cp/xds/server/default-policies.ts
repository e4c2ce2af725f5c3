/**
 * Kuma's default policies: when a mesh is created, `route-all-<mesh>` (TrafficRoute,
 * every source to the service it asked for) and `allow-all-<mesh>` (TrafficPermission,
 * every source to every destination) are created with it, so a new mesh carries
 * traffic before anyone writes a policy. Idempotent: an existing policy of that name,
 * changed or not, is left alone; a deleted one is not recreated until the mesh is.
 */
import type { Component } from '../../../lib/component';
import { ConflictError } from '../../../lib/errors';
import type { Logger } from '../../../lib/logger';
import type { ResourceInput } from '../../../api/resource';
import type { ResourceStore, StoreEvent } from '../../store/store';

/** The default policies of a mesh. */
export function defaultPolicies(mesh: string): ResourceInput[] {
  const all = [{ match: { 'kuma.io/service': '*' } }];
  return [
    { type: 'TrafficRoute', mesh, name: `route-all-${mesh}`, spec: { sources: all, destinations: all, conf: { destination: { 'kuma.io/service': '*' } } } },
    { type: 'TrafficPermission', mesh, name: `allow-all-${mesh}`, spec: { sources: all, destinations: all } },
  ];
}

/** Watches for new meshes and creates their default policies. */
export class DefaultPoliciesComponent implements Component {
  readonly name = 'default-policies';
  private unwatch?: () => void;
  private pending = new Set<Promise<void>>();

  constructor(
    private readonly store: ResourceStore,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.unwatch = this.store.watch((ev) => this.onEvent(ev));
    // Meshes created before this CP started (or while it was down).
    for (const m of await this.store.list('Mesh')) await this.ensure(m.meta.name, false);
  }

  private onEvent(ev: StoreEvent): void {
    if (ev.kind !== 'create' || ev.resource.meta.type !== 'Mesh') return;
    const p = this.ensure(ev.resource.meta.name, true).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Creates the mesh's default policies that are missing (only right after mesh creation when `fresh`). */
  async ensure(mesh: string, fresh: boolean): Promise<void> {
    for (const input of defaultPolicies(mesh)) {
      try {
        if (!fresh && (await this.store.get(input.type, { mesh, name: input.name }))) continue;
        if (!fresh) {
          // On start-up, only meshes without any policy of this type get the default.
          if ((await this.store.list(input.type, { mesh })).length > 0) continue;
        }
        await this.store.create(input);
        this.log.info({ mesh, policy: input.name, type: input.type }, 'default policy created');
      } catch (err) {
        if (err instanceof ConflictError) continue;
        this.log.error({ err, mesh, policy: input.name }, 'creating the default policy failed');
      }
    }
  }

  async close(): Promise<void> {
    this.unwatch?.();
    await Promise.allSettled([...this.pending]);
  }

  destroy(): void {
    this.unwatch?.();
  }
}
