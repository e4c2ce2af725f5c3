/** The request and handler types every built-in route uses (a superset of what extra routes see). */
import type { RouteRequest, RouteResponse } from './extension';

/** A parsed request: path params, query, headers, body, plus what links need. */
export interface ApiRequest extends RouteRequest {
  /** `http://host:port` as the client addressed us, for `next` links. */
  baseUrl: string;
  /** The request path without the query. */
  pathname: string;
}

/** A built-in route handler. */
export type ApiHandler = (req: ApiRequest) => Promise<RouteResponse>;
