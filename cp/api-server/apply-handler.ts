/**
 * `POST /_apply`: this project's extension to Kuma's API for all-or-nothing apply
 * (kumactl apply with several documents). Body `{"resources": [<Kuma flat JSON>, ...]}`
 * (or YAML). Every resource is checked first and every problem is returned at once
 * (fields prefixed `resources[i]`); only when all are valid are they written, in one
 * store transaction. Answer: `{"results": [{type, mesh?, name, status: created|updated}]}`.
 */
import { keyString, type Resource, type ResourceInput } from '../../api/resource';
import { ConflictError, ValidationError, type FieldViolation } from '../../lib/errors';
import type { ResourceStore, TransactionOp } from '../store/store';
import type { RouteResponse, WriteGuard } from './extension';
import type { ApiRequest } from './api-request';
import { bodyToInput, checkInput, kindOf, meshNames, throwIfViolations } from './resource-input';

/** Largest number of resources one apply may carry. */
export const MAX_APPLY_RESOURCES = 1000;

/** One line of the apply answer. */
export interface ApplyResult {
  type: string;
  mesh?: string;
  name: string;
  status: 'created' | 'updated';
}

/** Validates all, then writes all in one transaction. */
export async function applyResources(store: ResourceStore, guards: readonly WriteGuard[], req: ApiRequest): Promise<RouteResponse> {
  const body = req.body as Record<string, unknown> | undefined;
  const list = Array.isArray(body) ? body : body && typeof body === 'object' ? body.resources : undefined;
  if (!Array.isArray(list)) {
    throwIfViolations([{ field: 'resources', message: `must be an array of resources, got ${kindOf(list)}` }]);
  }
  const docs = list as unknown[];
  if (docs.length > MAX_APPLY_RESOURCES) {
    throwIfViolations([{ field: 'resources', message: `at most ${MAX_APPLY_RESOURCES} resources per apply, got ${docs.length}` }]);
  }
  const violations: FieldViolation[] = [];
  const inputs: ResourceInput[] = [];
  const seen = new Map<string, number>();
  const meshes = await meshNames(store);
  const parsed = docs.map((doc, i) => bodyToInput(doc, {}, `resources[${i}]`));
  // Meshes created by this same apply count as existing for the rest of it.
  for (const p of parsed) if (p.input?.type === 'Mesh') meshes.add(p.input.name);
  parsed.forEach((p, i) => {
    violations.push(...p.violations);
    if (!p.input) return;
    const k = keyString(p.input.type, p.input);
    const first = seen.get(k);
    if (first !== undefined) violations.push({ field: `resources[${i}]`, message: `${k} appears twice (also resources[${first}])` });
    else seen.set(k, i);
    violations.push(...checkInput(p.input, meshes, `resources[${i}]`));
    inputs.push(p.input);
  });
  throwIfViolations(violations);

  const existing: (Resource | undefined)[] = [];
  const refused: FieldViolation[] = [];
  for (const [i, input] of inputs.entries()) {
    const cur = await store.get(input.type, input);
    try {
      for (const g of guards) await g('upsert', input, cur);
    } catch (err) {
      // Name the document in every refusal, and report all refused documents at once.
      if (err instanceof ValidationError) refused.push(...err.violations.map((v) => ({ field: v.field ? `resources[${i}].${v.field}` : `resources[${i}]`, message: v.message })));
      else if (err instanceof ConflictError) throw new ConflictError(`resources[${i}]: ${err.message}`, { cause: err });
      else throw err;
    }
    existing.push(cur);
  }
  throwIfViolations(refused);
  const ops: TransactionOp[] = inputs.map((input) => ({ op: 'upsert', input }));
  await store.transaction(ops);
  const results: ApplyResult[] = inputs.map((input, i) => ({
    type: input.type,
    ...(input.mesh !== undefined ? { mesh: input.mesh } : {}),
    name: input.name,
    status: existing[i] ? 'updated' : 'created',
  }));
  return { status: 200, body: { results } };
}
