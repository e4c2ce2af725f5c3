/**
 * The row shape the SQL engines share (type, mesh or '' for global resources, name,
 * version, times, labels and spec as JSON text) and its conversion to a Resource.
 */
import { KumaError } from '../../lib/errors';
import type { Resource, ResourceType } from '../../api/resource';

/** A database or statement failure of a store engine; the message names the database, never a password. */
export class StoreError extends KumaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORE', message, options);
  }
}

/** One stored resource as SQL returns it. */
export interface ResourceRow {
  type: string;
  mesh: string;
  name: string;
  version: number | string;
  creation_time: string;
  modification_time: string;
  labels: string;
  spec: string;
}

/** The Resource of a row; StoreError naming `where` (the database) when its JSON is damaged. */
export function resourceFromRow(r: ResourceRow, where: string): Resource {
  let labels: Record<string, string>;
  let spec: Record<string, unknown>;
  try {
    labels = JSON.parse(r.labels);
    spec = JSON.parse(r.spec);
  } catch (err) {
    throw new StoreError(`${where}: row ${r.type} ${r.mesh}/${r.name} holds invalid JSON`, { cause: err });
  }
  return {
    meta: {
      type: r.type as ResourceType,
      ...(r.mesh !== '' ? { mesh: r.mesh } : {}),
      name: r.name,
      version: String(r.version),
      creationTime: r.creation_time,
      modificationTime: r.modification_time,
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
    },
    spec,
  };
}
