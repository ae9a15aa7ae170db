import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, type ErrorCode, type FieldErrors } from '../errors.js';
import { isConnectionError } from '../db/errors.js';
import { StoreUnavailableError } from '../errors.js';
import { errorMessage, fieldMessage, pickLocale } from '../i18n/messages.js';
import { logRefusal } from './request-log.js';
import { SessionTooLargeError } from '../sessions/request-session.js';

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
}

/** Ajv's complaints about a body, as the contract's per-field messages. */
function fieldsFromValidation(errors: AjvError[]): FieldErrors {
  const fields: FieldErrors = {};
  for (const e of errors) {
    const path = e.instancePath.replace(/^\//, '').split('/')[0] || (e.params.missingProperty as string | undefined) || 'body';
    const id =
      e.keyword === 'required'
        ? 'required'
        : e.keyword === 'maxLength'
          ? `too_long|max=${String(e.params.limit)}`
          : 'invalid_type';
    const list = (fields[path] ??= []);
    if (!list.includes(id)) list.push(id);
  }
  return fields;
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'validation_error',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'validation_error',
  FST_ERR_CTP_INVALID_JSON_BODY: 'validation_error',
};

export function toApiError(error: unknown): ApiError | null {
  const own = portcullisApiError(error);
  if (own) return own;
  const fe = error as FastifyError & { validation?: AjvError[] };
  if (fe.validation) return new ApiError('validation_error', undefined, fieldsFromValidation(fe.validation));
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) return new ApiError(mapped);
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ApiError(fe.statusCode === 404 ? 'not_found' : fe.statusCode === 413 ? 'payload_too_large' : fe.statusCode === 415 ? 'unsupported_media_type' : 'validation_error');
  }
  return null;
}

/**
 * An error portcullis itself raised — a guard, a login, an application session over its limit, a
 * store that is down — as the contract's ApiError; null for anything else. The adapters answer these
 * from inside an app's own routes, and leave the app's own errors (its 4xx included) to the app.
 */
export function portcullisApiError(error: unknown): ApiError | null {
  if (error instanceof ApiError) return error;
  if (error instanceof StoreUnavailableError || isConnectionError(error)) return new ApiError('service_unavailable');
  if (error instanceof SessionTooLargeError) return new ApiError('payload_too_large');
  return null;
}

/** The contract's error body in the caller's language; every framework binding answers with this. */
export function errorBody(error: ApiError, acceptLanguage: string | undefined): { error: { code: string; message: string; fields?: FieldErrors } } {
  const locale = pickLocale(acceptLanguage);
  const body: { code: string; message: string; fields?: FieldErrors } = {
    code: error.code,
    message: error.message && error.message !== error.code ? error.message : errorMessage(error.code, locale),
  };
  if (error.fields) {
    body.fields = Object.fromEntries(Object.entries(error.fields).map(([f, ids]) => [f, ids.map((id) => fieldMessage(id, locale))]));
  }
  return { error: body };
}

/** Headers that go with an error answer (Retry-After for throttling and an unavailable store). */
export function errorHeaders(error: ApiError): Record<string, string> {
  return { ...error.headers, ...(error.code === 'service_unavailable' ? { 'Retry-After': '5' } : {}) };
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: ApiError): FastifyReply {
  reply.headers(errorHeaders(error));
  return reply.code(error.status).type('application/json').send(errorBody(error, request.headers['accept-language']));
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const api = toApiError(error);
    if (api) {
      if (api.code === 'service_unavailable') request.log.warn({ err: { message: (error as Error).message } }, 'store unavailable');
      logRefusal(request, api);
      return sendError(request, reply, api);
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ error: { code: 'internal_error', message: 'Internal server error.' } });
  });
  app.setNotFoundHandler((request, reply) => sendError(request, reply, new ApiError('not_found')));
}
