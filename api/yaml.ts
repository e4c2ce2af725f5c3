/**
 * Parsing Kuma YAML (one or many documents) into resource inputs, with errors that
 * name the document and field. Problems of every document are collected and thrown
 * together, so `kumactl apply -f` shows them all at once.
 *
 * Documents are numbered from 0 among the non-empty ones, so `document[i]` is also
 * the index of the input in the returned list (and in validateDocuments' argument).
 */
import YAML from 'yaml';
import { ValidationError, type FieldViolation } from '../lib/errors';
import { descriptorOf, fromKumaJson, type ResourceInput } from './resource';
import { validateResource, knownTypesText, type ValidationContext } from './validation/index';

/** Path prefix of document `i` (`document[2]`), used by every message about it. */
export function documentPath(i: number): string {
  return `document[${i}]`;
}

/** Prefixes violations of one document with its path. */
export function prefixViolations(i: number, violations: readonly FieldViolation[]): FieldViolation[] {
  const base = documentPath(i);
  return violations.map((v) => ({ field: v.field ? `${base}.${v.field}` : base, message: v.message }));
}

// Bounds that keep hostile input (alias bombs, huge nesting) from exhausting memory.
const PARSE_OPTIONS = { uniqueKeys: true, prettyErrors: true, strict: true } as const;
const TO_JS_OPTIONS = { maxAliasCount: 100 } as const;

/** Parses every document of a YAML text; throws ValidationError listing every problem. */
export function parseResourceDocuments(text: string): ResourceInput[] {
  const violations: FieldViolation[] = [];
  const out: ResourceInput[] = [];
  let docs: ReturnType<typeof YAML.parseAllDocuments>;
  try {
    docs = YAML.parseAllDocuments(text, PARSE_OPTIONS);
  } catch (err) {
    throw new ValidationError('invalid YAML', [{ field: '', message: `cannot parse YAML: ${(err as Error).message}` }], { cause: err });
  }
  // parseAllDocuments returns an EmptyStream (not an array) for text with no documents.
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) {
    if (doc.errors.length === 0 && (doc.contents === null || isEmptyScalar(doc.contents))) continue; // `---` with nothing after it
    const i = out.length;
    const base = documentPath(i);
    if (doc.errors.length > 0) {
      for (const e of doc.errors) violations.push({ field: base, message: `YAML syntax error at ${position(e)}: ${firstLine(e.message)}` });
      out.push(placeholder());
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS(TO_JS_OPTIONS);
    } catch (err) {
      violations.push({ field: base, message: `cannot read YAML: ${firstLine((err as Error).message)}` });
      out.push(placeholder());
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      const got = Array.isArray(value) ? 'a list' : JSON.stringify(value);
      violations.push({ field: base, message: `must be a mapping with type, name and the resource's fields, got ${got}` });
      out.push(placeholder());
      continue;
    }
    const obj = value as Record<string, unknown>;
    const type = obj.type;
    if (type === undefined || type === null || type === '') {
      violations.push({ field: `${base}.type`, message: `is required; valid types: ${knownTypesText()}` });
    } else if (typeof type !== 'string' || !descriptorOf(type)) {
      violations.push({ field: `${base}.type`, message: `unknown type ${JSON.stringify(type)}; valid types: ${knownTypesText()}` });
    }
    out.push(fromKumaJson(obj));
  }
  if (violations.length > 0) throw new ValidationError('invalid resource YAML', violations);
  return out;
}

/** Runs validateResource on each input; violations are prefixed `document[i].`. */
export function validateDocuments(inputs: readonly ResourceInput[], ctx: ValidationContext = {}): FieldViolation[] {
  return inputs.flatMap((input, i) => prefixViolations(i, validateResource(input, ctx)));
}

function isEmptyScalar(node: unknown): boolean {
  return YAML.isScalar(node) && (node.value === null || node.value === undefined);
}

function position(e: { linePos?: [{ line: number; col: number }] | [{ line: number; col: number }, unknown] }): string {
  const p = e.linePos?.[0];
  return p ? `line ${p.line}:${p.col}` : 'unknown position';
}

// prettyErrors appends a source excerpt on following lines; the first line is the message.
function firstLine(msg: string): string {
  return msg.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

// Keeps indexes aligned with documents when one of them failed; never returned.
function placeholder(): ResourceInput {
  return { type: 'Config', name: '', spec: {} };
}
