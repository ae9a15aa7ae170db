import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import { csrfRefused } from '../request/origin.js';

export interface CsrfOptions {
  trustedOrigins: string[];
  sessionCookieName: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** 'always': the origin check applies even without a session cookie (login, register). */
    csrf?: 'always';
  }
}

/** The origin this request was addressed to, as the browser would spell it. */
export function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}


/**
 * Contract section 6 on the server's routes, by the rule every door uses (src/request/origin.ts
 * `csrfRefused`): an unsafe request that rides on a session cookie (or any login/register) must come
 * from our own origin or a trusted one; a request authorized by an Authorization header is exempt.
 * It runs in the server's request hook, so a refused request is answered before its body is read.
 */
export function csrfFailure(request: FastifyRequest, options: CsrfOptions): ApiError | undefined {
  const method = request.method;
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return undefined;
  const site = request.headers['sec-fetch-site'];
  const facts = {
    method,
    ownOrigin: ownOrigin(request),
    authorization: request.headers.authorization,
    origin: request.headers.origin,
    secFetchSite: typeof site === 'string' ? site : undefined,
  };
  const always = request.routeOptions.config.csrf === 'always';
  return csrfRefused(facts, request.cookies[options.sessionCookieName] !== undefined, options.trustedOrigins, always) ? new ApiError('csrf_failed') : undefined;
}

/** A synchronizer token for HTML forms and the `csrftoken` cookie (Django's CSRF_COOKIE). */
export function generateCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}
