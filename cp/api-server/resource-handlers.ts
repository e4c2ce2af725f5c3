/**
 * Kuma's resource endpoints: `/meshes[/{mesh}]`, `/meshes/{mesh}/{collection}[/{name}]`
 * for mesh-scoped types, `/{collection}[/{name}]` for global types and cross-mesh lists.
 * Collections come from the descriptors in api/resource.ts.
 */
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors';
import {
  descriptorByPath,
  keyString,
  RESOURCE_TYPES,
  toKumaJson,
  type Resource,
  type ResourceInput,
  type ResourceKey,
  type ResourceTypeDescriptor,
} from '../../api/resource';
import type { ResourceStore, TransactionOp } from '../store/store';
import type { RouteResponse, WriteGuard } from './extension';
import type { ApiHandler, ApiRequest } from './api-request';
import { badRequest } from './http-error';
import { bodyToInput, checkInput, meshNames, throwIfViolations } from './resource-input';
import type { Route } from './router';

/** What the resource handlers need. */
export interface ResourceHandlerDeps {
  store: ResourceStore;
  guards: () => readonly WriteGuard[];
}

/** Default page size of list endpoints (`?size=`). */
export const DEFAULT_PAGE_SIZE = 100;
/** Largest page size a client may ask for. */
export const MAX_PAGE_SIZE = 1000;

const MESH_SCOPED_PATHS = RESOURCE_TYPES.filter((d) => d.scope === 'mesh').map((d) => d.path).join(', ');
const GLOBAL_PATHS = RESOURCE_TYPES.filter((d) => d.scope === 'global').map((d) => d.path).join(', ');

/** The descriptor of a mesh-scoped collection segment; 404 otherwise. */
export function meshCollection(segment: string): ResourceTypeDescriptor {
  const d = descriptorByPath(segment);
  if (!d || d.scope !== 'mesh') throw new NotFoundError(`unknown mesh-scoped collection ${JSON.stringify(segment)}; valid: ${MESH_SCOPED_PATHS}`);
  return d;
}

function anyCollection(segment: string): ResourceTypeDescriptor {
  const d = descriptorByPath(segment);
  if (!d) throw new NotFoundError(`unknown collection ${JSON.stringify(segment)}; valid: ${GLOBAL_PATHS}, ${MESH_SCOPED_PATHS}`);
  return d;
}

function globalCollection(segment: string): ResourceTypeDescriptor {
  const d = anyCollection(segment);
  if (d.scope !== 'global') throw new NotFoundError(`${d.type} is mesh-scoped: use /meshes/{mesh}/${d.path}/{name}`);
  return d;
}

/** The version in an If-Match header (quotes and W/ removed), or undefined. */
export function ifMatch(req: ApiRequest): string | undefined {
  const h = req.headers['if-match'];
  const v = Array.isArray(h) ? h[0] : h;
  if (v === undefined || v.trim() === '' || v.trim() === '*') return undefined;
  return v.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/** The ETag header value for a resource version. */
export function etag(version: string): string {
  return `"${version}"`;
}

/** Parses `size` and `offset`; 400 naming the parameter when bad. */
export function paging(query: URLSearchParams): { size: number; offset: number } {
  const parse = (name: string, dflt: number, min: number, max: number) => {
    const raw = query.get(name);
    if (raw === null || raw === '') return dflt;
    if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw badRequest(`query parameter ${name}=${JSON.stringify(raw)} must be an integer in ${min}..${max}`, [{ field: name, message: `must be an integer in ${min}..${max}` }]);
    }
    return Number(raw);
  };
  return { size: parse('size', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE), offset: parse('offset', 0, 0, 999_999_999) };
}

/** Kuma's list body `{total, items, next}`; `next` is the URL of the next page or null. */
export function listPage<T>(req: ApiRequest, all: T[]): { total: number; items: T[]; next: string | null } {
  const { size, offset } = paging(req.query);
  const items = all.slice(offset, offset + size);
  let next: string | null = null;
  if (offset + size < all.length) {
    const q = new URLSearchParams(req.query);
    q.set('size', String(size));
    q.set('offset', String(offset + size));
    next = `${req.baseUrl}${req.pathname}?${q.toString()}`;
  }
  return { total: all.length, items, next };
}

function one(r: Resource): RouteResponse {
  return { status: 200, body: toKumaJson(r), headers: { etag: etag(r.meta.version) } };
}

async function runGuards(deps: ResourceHandlerDeps, op: 'upsert' | 'delete', input: ResourceInput, existing: Resource | undefined): Promise<void> {
  for (const g of deps.guards()) await g(op, input, existing);
}

async function getOne(deps: ResourceHandlerDeps, d: ResourceTypeDescriptor, key: ResourceKey): Promise<RouteResponse> {
  const r = await deps.store.get(d.type, key);
  if (!r) throw new NotFoundError(`${keyString(d.type, key)} not found`);
  return one(r);
}

/**
 * Creates or replaces one resource. Without If-Match the last writer wins; with it, a
 * stale version is a 409. A create racing another create is retried as an update.
 */
async function put(deps: ResourceHandlerDeps, req: ApiRequest, d: ResourceTypeDescriptor, key: ResourceKey): Promise<RouteResponse> {
  const { input, violations } = bodyToInput(req.body, { descriptor: d, mesh: key.mesh, name: key.name });
  throwIfViolations(violations);
  throwIfViolations(checkInput(input!, await meshNames(deps.store)));
  const expected = ifMatch(req);
  for (let attempt = 0; ; attempt++) {
    const existing = await deps.store.get(d.type, key);
    await runGuards(deps, 'upsert', input!, existing);
    try {
      if (!existing) {
        if (expected !== undefined) throw new ConflictError(`${keyString(d.type, key)} does not exist (If-Match: ${expected})`);
        const r = await deps.store.create(input!);
        return { status: 201, body: toKumaJson(r), headers: { etag: etag(r.meta.version) } };
      }
      const r = await deps.store.update(input!, { expectedVersion: expected });
      return { status: 200, body: toKumaJson(r), headers: { etag: etag(r.meta.version) } };
    } catch (err) {
      // Someone created or deleted it between our read and our write: re-read, bounded.
      const raced = (err instanceof ConflictError && !existing && expected === undefined) || (err instanceof NotFoundError && existing && expected === undefined);
      if (!raced || attempt >= 3) throw err;
    }
  }
}

async function remove(deps: ResourceHandlerDeps, req: ApiRequest, d: ResourceTypeDescriptor, key: ResourceKey): Promise<RouteResponse> {
  if (d.type === 'Config') throw new ValidationError('Resource is not valid', [{ field: 'type', message: 'Config resources are internal to the control plane and read-only through the API' }]);
  const existing = await deps.store.get(d.type, key);
  if (!existing) throw new NotFoundError(`${keyString(d.type, key)} not found`);
  await runGuards(deps, 'delete', { type: d.type, ...key, labels: existing.meta.labels, spec: existing.spec }, existing);
  const expectedVersion = ifMatch(req);
  const ops: TransactionOp[] = [];
  if (d.type === 'Mesh') {
    // A mesh owns its mesh-scoped resources: delete them with it, atomically, so no
    // orphan dataplane or policy outlives its mesh.
    for (const md of RESOURCE_TYPES.filter((x) => x.scope === 'mesh')) {
      for (const r of await deps.store.list(md.type, { mesh: key.name })) ops.push({ op: 'delete', type: md.type, key: { mesh: key.name, name: r.meta.name } });
    }
  }
  ops.push({ op: 'delete', type: d.type, key, expectedVersion });
  await deps.store.transaction(ops);
  return { status: 200, body: {} };
}

/** The resource routes; `/meshes/...` is registered explicitly so it reads like Kuma's API. */
export function resourceRoutes(deps: ResourceHandlerDeps): Route<ApiHandler>[] {
  const meshD = RESOURCE_TYPES.find((d) => d.type === 'Mesh')!;
  const list = async (req: ApiRequest, d: ResourceTypeDescriptor, mesh?: string) =>
    ({ status: 200, body: listPage(req, (await deps.store.list(d.type, mesh !== undefined ? { mesh } : {})).map(toKumaJson)) }) as RouteResponse;
  return [
    { method: 'GET', pattern: '/meshes', handler: (req) => list(req, meshD) },
    { method: 'GET', pattern: '/meshes/{mesh}', handler: (req) => getOne(deps, meshD, { name: req.params.mesh }) },
    { method: 'PUT', pattern: '/meshes/{mesh}', handler: (req) => put(deps, req, meshD, { name: req.params.mesh }) },
    { method: 'DELETE', pattern: '/meshes/{mesh}', handler: (req) => remove(deps, req, meshD, { name: req.params.mesh }) },
    { method: 'GET', pattern: '/meshes/{mesh}/{collection}', handler: (req) => list(req, meshCollection(req.params.collection), req.params.mesh) },
    {
      method: 'GET',
      pattern: '/meshes/{mesh}/{collection}/{name}',
      handler: (req) => getOne(deps, meshCollection(req.params.collection), { mesh: req.params.mesh, name: req.params.name }),
    },
    {
      method: 'PUT',
      pattern: '/meshes/{mesh}/{collection}/{name}',
      handler: (req) => put(deps, req, meshCollection(req.params.collection), { mesh: req.params.mesh, name: req.params.name }),
    },
    {
      method: 'DELETE',
      pattern: '/meshes/{mesh}/{collection}/{name}',
      handler: (req) => remove(deps, req, meshCollection(req.params.collection), { mesh: req.params.mesh, name: req.params.name }),
    },
    // Global types, and cross-mesh lists of mesh-scoped types (`GET /dataplanes`).
    { method: 'GET', pattern: '/{collection}', handler: (req) => list(req, anyCollection(req.params.collection)) },
    { method: 'GET', pattern: '/{collection}/{name}', handler: (req) => getOne(deps, globalCollection(req.params.collection), { name: req.params.name }) },
    { method: 'PUT', pattern: '/{collection}/{name}', handler: (req) => put(deps, req, globalCollection(req.params.collection), { name: req.params.name }) },
    { method: 'DELETE', pattern: '/{collection}/{name}', handler: (req) => remove(deps, req, globalCollection(req.params.collection), { name: req.params.name }) },
  ];
}
