/**
 * Parsing Kuma YAML (one or many documents) into resource inputs, with errors that
 * name the document and field. (Signature fixed; being implemented.)
 */
import YAML from 'yaml';
import { fromKumaJson, type ResourceInput } from './resource';

/** Parses every document of a YAML text; throws ValidationError listing every problem. */
export function parseResourceDocuments(text: string): ResourceInput[] {
  return YAML.parseAllDocuments(text).map((d) => fromKumaJson(d.toJS()));
}
