/**
 * Maps thrown errors to Kuma's REST error body `{title, details, causes:[{field, message}]}`.
 * Unknown errors become a 500 with a generic text: stack traces never reach clients.
 */
import { AuthError, ConflictError, KumaError, NotFoundError, UsageError, ValidationError, type FieldViolation } from '../../lib/errors';
import { HttpError } from './http-error';

/** Kuma's error body. */
export interface ErrorBody {
  title: string;
  details: string;
  causes?: FieldViolation[];
}

/** Status, body and headers for an error; `internal` is true for unexpected ones (log them). */
export interface MappedError {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  internal: boolean;
}

/** The HTTP answer for any thrown value. */
export function mapError(err: unknown): MappedError {
  if (err instanceof ValidationError) {
    return {
      status: 400,
      body: { title: 'Could not process a resource', details: 'Resource is not valid', causes: capCauses(err.violations) },
      headers: {},
      internal: false,
    };
  }
  if (err instanceof HttpError) {
    const body: ErrorBody = { title: titleFor(err.status), details: err.message };
    if (err.causes.length > 0) body.causes = err.causes;
    return { status: err.status, body, headers: err.headers, internal: false };
  }
  if (err instanceof NotFoundError) return simple(404, err);
  if (err instanceof ConflictError) return simple(409, err);
  if (err instanceof AuthError) return simple(err.status, err);
  if (err instanceof UsageError) return simple(400, err);
  if (err instanceof KumaError && /^ERR_/.test(err.code) && typeof (err as { status?: unknown }).status === 'number') {
    return simple((err as unknown as { status: number }).status, err);
  }
  return { status: 500, body: { title: 'Internal Server Error', details: 'An internal error occurred; see the control plane log' }, headers: {}, internal: true };
}

/** At most this many causes are sent; hostile input can produce one per key. */
export const MAX_CAUSES = 100;

function capCauses(causes: FieldViolation[]): FieldViolation[] {
  if (causes.length <= MAX_CAUSES) return causes;
  return [...causes.slice(0, MAX_CAUSES), { field: '', message: `... and ${causes.length - MAX_CAUSES} more violations` }];
}

function simple(status: number, err: Error): MappedError {
  return { status, body: { title: titleFor(status), details: err.message }, headers: {}, internal: false };
}

function titleFor(status: number): string {
  switch (status) {
    case 400:
      return 'Bad Request';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'Not Found';
    case 405:
      return 'Method Not Allowed';
    case 409:
      return 'Conflict';
    case 413:
      return 'Payload Too Large';
    case 415:
      return 'Unsupported Media Type';
    default:
      return status >= 500 ? 'Internal Server Error' : 'Error';
  }
}
