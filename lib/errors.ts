/**
 * The small error hierarchy shared by cp, agent and kumactl. Every error carries a
 * stable `code` that tests and callers match on (never the message text).
 */

/** One problem with one field, e.g. `networking.inbound[0].port: must be in 1..65535, got 70000`. */
export interface FieldViolation {
  /** Dotted field path with indexes, e.g. `networking.inbound[0].tags`. Empty for the whole object. */
  field: string;
  /** What is wrong and what would be valid. */
  message: string;
}

/** Base class: a stable machine-readable code plus an optional cause. */
export class KumaError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Input failed validation; `violations` lists every problem found, not only the first. */
export class ValidationError extends KumaError {
  readonly violations: FieldViolation[];
  constructor(title: string, violations: FieldViolation[], options?: { cause?: unknown }) {
    super('ERR_VALIDATION', `${title}: ${violations.map(formatViolation).join('; ')}`, options);
    this.violations = violations;
  }
}

/** The resource asked for does not exist. */
export class NotFoundError extends KumaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NOT_FOUND', message, options);
  }
}

/** A write lost an optimistic-concurrency race or would overwrite an existing resource. */
export class ConflictError extends KumaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CONFLICT', message, options);
  }
}

/** Authentication or authorization failed (bad, expired or foreign token). */
export class AuthError extends KumaError {
  readonly status: 401 | 403;
  constructor(message: string, status: 401 | 403 = 401, options?: { cause?: unknown }) {
    super('ERR_AUTH', message, options);
    this.status = status;
  }
}

/** Wrong command-line usage or configuration; CLIs exit 64 (EX_USAGE) on it. */
export class UsageError extends KumaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_USAGE', message, options);
  }
}

/** `field: message`, or just the message when the violation concerns the whole object. */
export function formatViolation(v: FieldViolation): string {
  return v.field ? `${v.field}: ${v.message}` : v.message;
}

/** Collects violations while walking an object, then throws them all at once. */
export class ViolationCollector {
  readonly violations: FieldViolation[] = [];
  add(field: string, message: string): void {
    this.violations.push({ field, message });
  }
  get ok(): boolean {
    return this.violations.length === 0;
  }
  /** Throws a ValidationError with every collected violation, if any. */
  throwIfAny(title: string): void {
    if (!this.ok) throw new ValidationError(title, this.violations);
  }
}
