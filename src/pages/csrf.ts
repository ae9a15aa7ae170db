import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PortcullisConfig } from '../config.js';
import { ApiError } from '../errors.js';
import { constantTimeEqual } from '../auth/salted-hmac.js';
import { setCsrfCookie } from '../http/cookies.js';
import { generateCsrfToken } from '../http/csrf.js';

/**
 * Django's synchronizer token for the built-in forms: the `csrftoken` cookie and the form's hidden
 * `csrfmiddlewaretoken` field (or the X-CSRFToken header) must carry the same value. A cross-site
 * page can make a browser send the cookie but cannot read it, so it cannot fill in the field.
 * This comes on top of the origin check every unsafe request already passes (http/csrf.ts).
 */

const WELL_FORMED = /^[A-Za-z0-9_-]{32}$/;

/** The token for the forms of this page: the browser's own if it has a sound one, else a new cookie. */
export function formToken(request: FastifyRequest, reply: FastifyReply, config: PortcullisConfig): string {
  const existing = request.cookies[config.csrfCookieName];
  if (existing && WELL_FORMED.test(existing)) return existing;
  return rotateFormToken(reply, config);
}

/** A fresh token, as Django's rotate_token() on login: a token seen before login is no use after it. */
export function rotateFormToken(reply: FastifyReply, config: PortcullisConfig): string {
  const token = generateCsrfToken();
  setCsrfCookie(reply, config, token);
  // Later handlers of this request (the page re-rendered after a failed form) read the new one.
  reply.request.cookies[config.csrfCookieName] = token;
  return token;
}

export function checkFormToken(request: FastifyRequest, config: PortcullisConfig): void {
  const cookie = request.cookies[config.csrfCookieName];
  const body = request.body as Record<string, string> | undefined;
  const header = request.headers['x-csrftoken'];
  const sent = body?.csrfmiddlewaretoken ?? (typeof header === 'string' ? header : undefined);
  if (!cookie || !WELL_FORMED.test(cookie) || !sent || !constantTimeEqual(cookie, sent)) throw new ApiError('csrf_failed');
}
