import type { ErrorCode } from '../errors.js';

/** The contract's codes, plus two of the client's own for answers that never came or made no sense. */
export type ClientErrorCode = ErrorCode | 'network_error' | 'bad_response';

/** Every failed call throws one of these, carrying the contract's error body. */
export class PortcullisError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    /** The HTTP status, or 0 when no answer arrived. */
    readonly status: number,
    /** Messages per field, for `validation_error` (and `conflict`, naming the taken field). */
    readonly fields: Record<string, string[]> = {},
    /** Seconds to wait, from `Retry-After` on `throttled` and `service_unavailable`. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'PortcullisError';
  }
}

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; fields?: unknown };
}

export async function errorFromResponse(res: Response): Promise<PortcullisError> {
  const retry = res.headers.get('retry-after');
  const retryAfter = retry !== null && /^\d+$/.test(retry) ? Number(retry) : null;
  let body: ErrorBody | null = null;
  try {
    body = (await res.json()) as ErrorBody;
  } catch {
    // A proxy's HTML page or an empty body: not ours to interpret.
  }
  const e = body?.error;
  if (!e || typeof e.code !== 'string') {
    return new PortcullisError('bad_response', `HTTP ${res.status} without a portcullis error body`, res.status, {}, retryAfter);
  }
  const fields = e.fields && typeof e.fields === 'object' ? (e.fields as Record<string, string[]>) : {};
  return new PortcullisError(e.code as ClientErrorCode, typeof e.message === 'string' ? e.message : e.code, res.status, fields, retryAfter);
}
