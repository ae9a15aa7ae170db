import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

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

export function isTrustedOrigin(origin: string, request: FastifyRequest, trusted: string[]): boolean {
  return origin === ownOrigin(request) || trusted.includes(origin);
}

/**
 * Contract section 6: an unsafe request that rides on a session cookie (or any login/register) must
 * come from our own origin or a trusted one. Requests authenticated only by an Authorization header
 * carry no ambient credential, so a forged cross-site request gains nothing and is let through.
 */
export function registerCsrf(app: FastifyInstance, options: CsrfOptions): void {
  app.addHook('preHandler', (request, _reply, done) => {
    done(csrfFailure(request, options));
  });
}

function csrfFailure(request: FastifyRequest, options: CsrfOptions): ApiError | undefined {
  if (!UNSAFE.has(request.method)) return undefined;
  const always = request.routeOptions.config.csrf === 'always';
  if (!always && request.cookies[options.sessionCookieName] === undefined) return undefined;
  const origin = request.headers.origin;
  if (origin !== undefined) return isTrustedOrigin(origin, request, options.trustedOrigins) ? undefined : new ApiError('csrf_failed');
  return request.headers['sec-fetch-site'] === 'cross-site' ? new ApiError('csrf_failed') : undefined;
}

/** A synchronizer token for HTML forms and the `csrftoken` cookie (Django's CSRF_COOKIE). */
export function generateCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}
