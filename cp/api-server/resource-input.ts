/**
 * Turning a request body into a ResourceInput and checking it: identity agrees with
 * the URL, the spec is valid (api/validation), the mesh exists. Shared by PUT and the
 * transactional /_apply endpoint so both refuse exactly the same things.
 */
import { ValidationError, type FieldViolation } from '../../lib/errors';
import { descriptorOf, fromKumaJson, RESOURCE_TYPES, type ResourceInput, type ResourceTypeDescriptor } from '../../api/resource';
import { validateResource } from '../../api/validation/index';
import type { ResourceStore } from '../store/store';

function prefixed(prefix: string, v: FieldViolation): FieldViolation {
  if (!prefix) return v;
  return { field: v.field ? (v.field.startsWith('[') ? `${prefix}${v.field}` : `${prefix}.${v.field}`) : prefix, message: v.message };
}

/** A description of a JSON value's kind for messages: `array`, `string`, `null`, ... */
export function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/**
 * Converts Kuma's flat form into an input, filling identity from the URL when the
 * body omits it; returns violations (field-prefixed) for disagreements.
 */
export function bodyToInput(
  body: unknown,
  expected: { descriptor?: ResourceTypeDescriptor; mesh?: string; name?: string },
  prefix = '',
): { input?: ResourceInput; violations: FieldViolation[] } {
  const violations: FieldViolation[] = [];
  const add = (field: string, message: string) => violations.push(prefixed(prefix, { field, message }));
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    add('', `must be an object in Kuma's resource form ({type, name, ...}), got ${kindOf(body)}`);
    return { violations };
  }
  if (Object.prototype.hasOwnProperty.call(body, '__proto__')) {
    // JSON.parse keeps "__proto__" as a plain key; copying it onto an object would
    // change that object's prototype instead, so refuse it outright.
    add('__proto__', 'is not an allowed field name');
    return { violations };
  }
  const obj = { ...(body as Record<string, unknown>) };
  const d = expected.descriptor;
  if (obj.type === undefined && d) obj.type = d.type;
  if (typeof obj.type !== 'string' || !descriptorOf(obj.type)) {
    const known = RESOURCE_TYPES.map((x) => x.type).join(', ');
    add('type', `unknown resource type ${JSON.stringify(obj.type)}; valid: ${known}`);
    return { violations };
  }
  if (d && obj.type !== d.type) add('type', `${JSON.stringify(obj.type)} in the body differs from ${JSON.stringify(d.type)} of the URL; they must agree`);
  const desc = descriptorOf(obj.type)!;
  if (desc.type === 'Config') {
    // Config resources hold the CP's own state (VIP tables, markers): readable for
    // debugging, never writable from outside, or a typo could break every dataplane.
    add('type', 'Config resources are internal to the control plane and read-only through the API');
    return { violations };
  }
  if (obj.name === undefined && expected.name !== undefined) obj.name = expected.name;
  if (typeof obj.name !== 'string' || obj.name === '') {
    add('name', `must be a non-empty string, got ${JSON.stringify(obj.name) ?? 'nothing'}`);
  } else if (expected.name !== undefined && obj.name !== expected.name) {
    add('name', `${JSON.stringify(obj.name)} in the body differs from ${JSON.stringify(expected.name)} in the URL; they must agree`);
  }
  if (desc.scope === 'mesh') {
    if (obj.mesh === undefined && expected.mesh !== undefined) obj.mesh = expected.mesh;
    if (obj.mesh === undefined && expected.descriptor === undefined) obj.mesh = 'default';
    if (typeof obj.mesh !== 'string' || obj.mesh === '') {
      add('mesh', `must be a non-empty string, got ${JSON.stringify(obj.mesh) ?? 'nothing'}`);
    } else if (expected.mesh !== undefined && obj.mesh !== expected.mesh) {
      add('mesh', `${JSON.stringify(obj.mesh)} in the body differs from ${JSON.stringify(expected.mesh)} in the URL; they must agree`);
    }
  } else if (obj.mesh !== undefined) {
    add('mesh', `${desc.type} is not mesh-scoped; remove the field (got ${JSON.stringify(obj.mesh)})`);
  }
  if (obj.labels !== undefined) {
    const l = obj.labels;
    if (l === null || typeof l !== 'object' || Array.isArray(l) || Object.values(l).some((v) => typeof v !== 'string')) {
      add('labels', `must be a map of string to string, got ${JSON.stringify(l)}`);
    }
  }
  if (violations.length > 0) return { violations };
  return { input: fromKumaJson(obj as Record<string, any>), violations };
}

/** Names of the meshes in the store, for ValidationContext.meshExists. */
export async function meshNames(store: ResourceStore): Promise<Set<string>> {
  return new Set((await store.list('Mesh')).map((m) => m.meta.name));
}

/** Every violation of an input (api/validation plus the mesh-exists check), field-prefixed. */
export function checkInput(input: ResourceInput, meshes: Set<string>, prefix = ''): FieldViolation[] {
  const out = validateResource(input, { meshExists: (m) => meshes.has(m) }).map((v) => prefixed(prefix, v));
  // The mesh must exist before anything can live in it; api/validation may report it
  // too, so only add ours when it said nothing about `mesh`.
  const d = descriptorOf(input.type);
  if (d?.scope === 'mesh' && input.mesh !== undefined && !meshes.has(input.mesh) && !out.some((v) => v.field === prefixed(prefix, { field: 'mesh', message: '' }).field)) {
    out.push(prefixed(prefix, { field: 'mesh', message: `mesh ${JSON.stringify(input.mesh)} does not exist; create it first` }));
  }
  return out;
}

/** Throws the ValidationError Kuma's API answers with 400. */
export function throwIfViolations(violations: FieldViolation[]): void {
  if (violations.length > 0) throw new ValidationError('Resource is not valid', violations);
}
