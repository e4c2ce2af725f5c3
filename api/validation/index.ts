/**
 * Validation of Kuma resources. Collects every violation with its field path (in
 * Kuma's flat form: `networking.inbound[0].port`) instead of stopping at the first:
 * identity first (type, name, mesh, labels), then the spec's structure against its
 * protobuf message, then the type's own rules.
 */
import { ViolationCollector, type FieldViolation } from '../../lib/errors';
import { RESOURCE_TYPES, descriptorOf, type ResourceInput, type ResourceType } from '../resource';
import { checkName, isRecord, isSet, keyPath, show } from './common';
import { validateDataplaneSpec } from './dataplane';
import { validateMeshSpec } from './mesh';
import { validateSecretSpec } from './secret';
import { checkMessage, checkStringFields, specMessage } from './structure';
import { validateTrafficPermissionSpec } from './traffic-permission';
import { validateTrafficRouteSpec } from './traffic-route';
import { validateZoneSpec } from './zone';
import { validateZoneIngressSpec } from './zone-ingress';

/** Facts about the store that some rules need (e.g. that the mesh exists). */
export interface ValidationContext {
  /** True when the mesh exists; when absent, the check is skipped. */
  meshExists?: (mesh: string) => boolean;
}

type SpecRules = (v: ViolationCollector, spec: Record<string, unknown>) => void;

const RULES: Readonly<Record<ResourceType, SpecRules>> = {
  Mesh: validateMeshSpec,
  Dataplane: validateDataplaneSpec,
  ZoneIngress: validateZoneIngressSpec,
  Zone: validateZoneSpec,
  TrafficRoute: validateTrafficRouteSpec,
  TrafficPermission: validateTrafficPermissionSpec,
  Secret: validateSecretSpec,
  GlobalSecret: validateSecretSpec,
  Config: () => undefined,
};

/** The meta keys of Kuma's flat form; listed beside the spec's fields in unknown-field messages. */
const META_KEYS = ['type', 'mesh', 'name', 'labels'] as const;

/** The `type` values this project accepts, comma-separated, for messages. */
export function knownTypesText(): string {
  return RESOURCE_TYPES.map((d) => d.type).join(', ');
}

/** Every violation of the resource (type, name, mesh, spec); empty when valid. */
export function validateResource(input: ResourceInput, ctx: ValidationContext = {}): FieldViolation[] {
  const v = new ViolationCollector();
  if (!isRecord(input)) {
    v.add('', `must be an object, got ${show(input)}`);
    return v.violations;
  }
  const type: unknown = input.type;
  const desc = typeof type === 'string' ? descriptorOf(type) : undefined;
  if (!isSet(type) || type === '') v.add('type', `is required; valid types: ${knownTypesText()}`);
  else if (!desc) v.add('type', `unknown type ${show(type)}; valid types: ${knownTypesText()}`);

  const nameProblem = checkName(input.name);
  if (nameProblem) v.add('name', nameProblem);

  const mesh: unknown = input.mesh;
  if (desc?.scope === 'mesh') {
    const meshProblem = checkName(mesh);
    if (meshProblem) v.add('mesh', meshProblem);
    else if (ctx.meshExists && !ctx.meshExists(mesh as string)) v.add('mesh', `mesh ${show(mesh)} does not exist`);
  } else if (desc?.scope === 'global' && isSet(mesh)) {
    v.add('mesh', `must not be set: ${desc.type} is not scoped to a mesh, got ${show(mesh)}`);
  }

  const labels: unknown = input.labels;
  if (isSet(labels)) {
    if (!isRecord(labels)) v.add('labels', `must be a map of strings, got ${show(labels)}`);
    else {
      for (const [k, val] of Object.entries(labels)) {
        if (k === '') v.add(keyPath('labels', k), 'label key must not be empty');
        if (typeof val !== 'string') v.add(keyPath('labels', k), `must be a string, got ${show(val)}`);
      }
    }
  }

  const spec: unknown = input.spec;
  if (isSet(spec) && !isRecord(spec)) v.add('', `spec must be an object, got ${show(spec)}`);
  if (!desc || (isSet(spec) && !isRecord(spec))) return v.violations;
  const body = (spec ?? {}) as Record<string, unknown>;

  if (desc.message) checkMessage(v, '', body, specMessage(desc.message), META_KEYS);
  else if (desc.type === 'Config') checkStringFields(v, body, ['config'], META_KEYS);
  // A type added to RESOURCE_TYPES without rules here still gets the structure check.
  const rules: SpecRules | undefined = Object.prototype.hasOwnProperty.call(RULES, desc.type) ? RULES[desc.type] : undefined;
  rules?.(v, body);
  return v.violations;
}
