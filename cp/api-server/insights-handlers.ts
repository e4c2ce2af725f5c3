/**
 * `/meshes/{mesh}/dataplanes+insights[/{name}]` and `/dataplanes+insights`: each
 * dataplane in Kuma's DataplaneOverview shape (`dataplane` = its spec, `dataplaneInsight`
 * = its xDS subscriptions) plus an `online` flag, from the pluggable status provider.
 */
import { NotFoundError } from '../../lib/errors';
import type { Resource } from '../../api/resource';
import type { ResourceStore } from '../store/store';
import type { DataplaneStatusProvider } from './extension';
import type { ApiHandler } from './api-request';
import { listPage } from './resource-handlers';
import type { Route } from './router';

/** One DataplaneOverview item. */
export async function dataplaneOverview(r: Resource, provider: DataplaneStatusProvider): Promise<Record<string, unknown>> {
  const st = await provider.status(r.meta.mesh ?? '', r.meta.name);
  const out: Record<string, unknown> = {
    type: 'DataplaneOverview',
    mesh: r.meta.mesh,
    name: r.meta.name,
    creationTime: r.meta.creationTime,
    modificationTime: r.meta.modificationTime,
  };
  if (r.meta.labels && Object.keys(r.meta.labels).length > 0) out.labels = r.meta.labels;
  out.dataplane = r.spec;
  out.dataplaneInsight = { subscriptions: st.subscriptions };
  out.online = st.online;
  return out;
}

/** The insight routes. */
export function insightRoutes(store: ResourceStore, provider: () => DataplaneStatusProvider): Route<ApiHandler>[] {
  const many = async (rs: Resource[]) => Promise.all(rs.map((r) => dataplaneOverview(r, provider())));
  return [
    { method: 'GET', pattern: '/meshes/{mesh}/dataplanes+insights', handler: async (req) => ({ status: 200, body: listPage(req, await many(await store.list('Dataplane', { mesh: req.params.mesh }))) }) },
    {
      method: 'GET',
      pattern: '/meshes/{mesh}/dataplanes+insights/{name}',
      handler: async (req) => {
        const r = await store.get('Dataplane', { mesh: req.params.mesh, name: req.params.name });
        if (!r) throw new NotFoundError(`Dataplane ${req.params.mesh}/${req.params.name} not found`);
        return { status: 200, body: await dataplaneOverview(r, provider()) };
      },
    },
    { method: 'GET', pattern: '/dataplanes+insights', handler: async (req) => ({ status: 200, body: listPage(req, await many(await store.list('Dataplane'))) }) },
  ];
}
