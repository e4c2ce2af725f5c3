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
  /** Extra response headers (e.g. ETag). Added by the API server; optional. */
  headers?: Record<string, string>;
}

/** One extra route; `path` may hold `{param}` segments. Thrown KumaErrors map to their HTTP status. */
export interface ExtraRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  handler: (req: RouteRequest) => Promise<RouteResponse>;
}

/** Called before every write through the API; throw (e.g. ValidationError, ConflictError) to refuse it. */
export type WriteGuard = (op: 'upsert' | 'delete', input: ResourceInput, existing: Resource | undefined) => void | Promise<void>;

/** One xDS subscription of a dataplane, in Kuma's DataplaneInsight shape (`id`, `controlPlaneInstanceId`, `connectTime`, `disconnectTime`, `status`). */
export type DataplaneSubscription = Record<string, unknown>;

/** What the API knows about a dataplane's connection to the CP. */
export interface DataplaneStatus {
  online: boolean;
  /** Newest last; empty when the dataplane never connected. */
  subscriptions: DataplaneSubscription[];
}

/** Source of dataplane connection state for `/meshes/{mesh}/dataplanes+insights` (the ADS server implements it). */
export interface DataplaneStatusProvider {
  /** Status of one dataplane; unknown ones are offline with no subscriptions. */
  status(mesh: string, name: string): DataplaneStatus | Promise<DataplaneStatus>;
}

/** Where CP components register their API additions; read by the API server on every request. */
export interface ApiExtensionRegistry {
  /** Adds a route; register before the API server starts. Conflicting method+path throws. */
  addRoute(route: ExtraRoute): void;
  /** Adds a guard run before every write through the API (including /_apply), in registration order. */
  addWriteGuard(guard: WriteGuard): void;
  /** Replaces the dataplane status source (default: every dataplane offline). */
  setDataplaneStatusProvider(provider: DataplaneStatusProvider): void;
}
