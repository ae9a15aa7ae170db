/**
 * The one error shape of the contract: every failure the API reports is an ApiError with a code,
 * an HTTP status and, for validation errors, messages per field.
 */
export type ErrorCode =
  | 'validation_error'
  | 'missing_credentials'
  | 'invalid_credentials'
  | 'not_authenticated'
  | 'csrf_failed'
  | 'permission_denied'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'throttled'
  | 'service_unavailable';

export const STATUS_OF: Record<ErrorCode, number> = {
  validation_error: 400,
  missing_credentials: 400,
  invalid_credentials: 401,
  not_authenticated: 401,
  csrf_failed: 403,
  permission_denied: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  throttled: 429,
  service_unavailable: 503,
};

export type FieldErrors = Record<string, string[]>;

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly fields?: FieldErrors,
    readonly headers?: Record<string, string>,
  ) {
    super(message ?? code);
    this.name = 'ApiError';
    this.status = STATUS_OF[code];
  }
}

export function validationError(fields: FieldErrors): ApiError {
  return new ApiError('validation_error', undefined, fields);
}

/** Thrown by an authentication backend to stop the walk over backends at once (Django's PermissionDenied). */
export class PermissionDenied extends Error {
  constructor(message = 'permission denied') {
    super(message);
    this.name = 'PermissionDenied';
  }
}

/** A store the request depends on (database, Redis) cannot be reached. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
