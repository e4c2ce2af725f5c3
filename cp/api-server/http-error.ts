/**
 * HTTP-level failures that are not about a resource (wrong method, body too large,
 * unreadable body). Resource failures use lib/errors (ValidationError, NotFoundError, ...).
 */
import { KumaError, type FieldViolation } from '../../lib/errors';

/** An error with a fixed HTTP status and a stable code. */
export class HttpError extends KumaError {
  readonly status: number;
  readonly causes: FieldViolation[];
  /** Extra headers for the error response (e.g. Allow on 405). */
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, opts: { cause?: unknown; causes?: FieldViolation[]; headers?: Record<string, string> } = {}) {
    super(code, message, { cause: opts.cause });
    this.status = status;
    this.causes = opts.causes ?? [];
    this.headers = opts.headers ?? {};
  }
}

/** 400: the request itself is malformed (body syntax, query parameters, path encoding). */
export function badRequest(message: string, causes: FieldViolation[] = [], cause?: unknown): HttpError {
  return new HttpError(400, 'ERR_BAD_REQUEST', message, { causes, cause });
}
