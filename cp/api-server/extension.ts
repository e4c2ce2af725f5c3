/**
 * How other CP components add routes to the REST API server (token generation,
 * zone insights, ...) and veto writes (a global refuses Dataplanes; a zone refuses
 * resources that came from global).
 */
import type { Resource, ResourceInput } from '../../api/resource';

/** A request as an extra route sees it. */
export interface RouteRequest {
  /** Path parameters, e.g. `{ name: 'zone-1' }` for `/zones/{name}`. */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body (or undefined for none). */
  body: unknown;
}

/** What an extra route answers. A `string` body is sent as text/plain unless contentType says otherwise. */
export interface RouteResponse {
  status: number;
  body?: unknown;
  contentType?: string;
}

/** One extra route; `path` may hold `{param}` segments. Thrown KumaErrors map to their HTTP status. */
export interface ExtraRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  handler: (req: RouteRequest) => Promise<RouteResponse>;
}

/** Called before every write through the API; throw (e.g. ValidationError, ConflictError) to refuse it. */
export type WriteGuard = (op: 'upsert' | 'delete', input: ResourceInput, existing: Resource | undefined) => void | Promise<void>;
