/**
 * Mesh rules (Kuma's mesh validator): mTLS backends are named uniquely, have a known
 * type, and `enabledBackend` names one of them; durations and CA key sizes are valid.
 */
import type { ViolationCollector } from '../../lib/errors';
import { checkDuration, parseDuration } from '../duration';
import { fieldPath, indexPath, isRecord, isSet, listOf, own, show } from './common';

/** CA backend types this project implements. */
export const CA_BACKEND_TYPES = ['builtin', 'provided'] as const;
/** mTLS modes: STRICT refuses plaintext, PERMISSIVE accepts it during migration. */
export const MTLS_MODES = ['STRICT', 'PERMISSIVE'] as const;
/** RSA key sizes a builtin CA may use. */
export const CA_RSA_BITS = [2048, 3072, 4096] as const;

/** Appends every violation of a Mesh spec. */
export function validateMeshSpec(v: ViolationCollector, spec: Record<string, unknown>): void {
  const mtls = own(spec, 'mtls');
  if (!isRecord(mtls)) return;
  const backends = listOf(own(mtls, 'backends'));
  const names = new Map<string, number>();
  backends.forEach((b, i) => {
    const p = indexPath('mtls.backends', i);
    if (!isRecord(b)) return;
    const name = own(b, 'name');
    if (!isSet(name) || name === '') v.add(fieldPath(p, 'name'), 'is required');
    else if (typeof name === 'string') {
      const first = names.get(name);
      if (first !== undefined) v.add(fieldPath(p, 'name'), `${show(name)} is already used by mtls.backends[${first}]`);
      else names.set(name, i);
    }
    const type = own(b, 'type');
    if (!isSet(type) || type === '') v.add(fieldPath(p, 'type'), `is required; must be one of ${CA_BACKEND_TYPES.join(', ')}`);
    else if (typeof type === 'string' && !(CA_BACKEND_TYPES as readonly string[]).includes(type)) {
      v.add(fieldPath(p, 'type'), `must be one of ${CA_BACKEND_TYPES.join(', ')}, got ${show(type)}`);
    }
    const mode = own(b, 'mode');
    if (isSet(mode) && mode !== '' && typeof mode === 'string' && !(MTLS_MODES as readonly string[]).includes(mode)) {
      v.add(fieldPath(p, 'mode'), `must be one of ${MTLS_MODES.join(', ')}, got ${show(mode)}`);
    }
    const expiration = own(own(own(b, 'dpCert'), 'rotation'), 'expiration');
    checkPositiveDuration(v, fieldPath(p, 'dpCert.rotation.expiration'), expiration);
    const conf = own(b, 'conf');
    if (type === 'builtin' && isRecord(conf)) checkBuiltinConf(v, fieldPath(p, 'conf'), conf);
    if (type === 'provided') checkProvidedConf(v, fieldPath(p, 'conf'), conf);
  });
  const enabled = own(mtls, 'enabledBackend');
  if (typeof enabled === 'string' && enabled !== '' && !names.has(enabled)) {
    const valid = names.size > 0 ? `one of the backends (${[...names.keys()].join(', ')})` : 'a backend, but mtls.backends is empty';
    v.add('mtls.enabledBackend', `must name ${valid}, got ${show(enabled)}`);
  }
}

function checkPositiveDuration(v: ViolationCollector, path: string, value: unknown): void {
  if (!isSet(value) || value === '') return;
  if (typeof value !== 'string') return; // reported by the structure check
  const problem = checkDuration(value);
  if (problem) v.add(path, problem);
  else if (parseDuration(value) <= 0) v.add(path, `must be a positive duration, got ${show(value)}`);
}

// conf is a free-form Struct; a builtin CA reads `caCert: {RSAbits, expiration}` from it.
function checkBuiltinConf(v: ViolationCollector, path: string, conf: Record<string, unknown>): void {
  for (const key of Object.keys(conf)) {
    if (key !== 'caCert') v.add(fieldPath(path, key), 'unknown field; known fields: caCert');
  }
  const caCert = own(conf, 'caCert');
  if (!isSet(caCert)) return;
  const cp = fieldPath(path, 'caCert');
  if (!isRecord(caCert)) {
    v.add(cp, `must be an object, got ${show(caCert)}`);
    return;
  }
  for (const key of Object.keys(caCert)) {
    if (key !== 'RSAbits' && key !== 'expiration') v.add(fieldPath(cp, key), 'unknown field; known fields: RSAbits, expiration');
  }
  const bits = own(caCert, 'RSAbits');
  if (isSet(bits) && !(CA_RSA_BITS as readonly unknown[]).includes(bits)) {
    v.add(fieldPath(cp, 'RSAbits'), `must be one of ${CA_RSA_BITS.join(', ')}, got ${show(bits)}`);
  }
  const expiration = own(caCert, 'expiration');
  if (isSet(expiration) && typeof expiration !== 'string') {
    v.add(fieldPath(cp, 'expiration'), `must be a duration string such as "87600h", got ${show(expiration)}`);
  } else {
    checkPositiveDuration(v, fieldPath(cp, 'expiration'), expiration);
  }
}

// A provided CA needs its certificate and key, each a data source (Kuma's DataSource).
const DATA_SOURCE_KEYS = ['secret', 'file', 'inline', 'inlineString'];
function checkProvidedConf(v: ViolationCollector, path: string, conf: unknown): void {
  if (!isRecord(conf)) {
    v.add(path, 'is required for a provided CA; must have cert and key');
    return;
  }
  for (const part of ['cert', 'key']) {
    const p = fieldPath(path, part);
    const src = own(conf, part);
    if (!isRecord(src)) {
      v.add(p, isSet(src) ? `must be an object, got ${show(src)}` : `is required; must have one of ${DATA_SOURCE_KEYS.join(', ')}`);
      continue;
    }
    const present = DATA_SOURCE_KEYS.filter((k) => isSet(own(src, k)));
    if (present.length !== 1) v.add(p, `must have exactly one of ${DATA_SOURCE_KEYS.join(', ')}`);
    for (const k of present) if (typeof own(src, k) !== 'string') v.add(fieldPath(p, k), `must be a string, got ${show(own(src, k))}`);
  }
}
