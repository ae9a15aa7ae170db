import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Portcullis } from '../portcullis.js';
import type { ApiError, ErrorCode } from '../errors.js';
import type { AuthEvents } from '../auth/events.js';

/**
 * What the server writes about requests. By default only what an operator acts on: errors (the
 * error handlers log 5xx) and security events, one warn line each (a failed login, a throttled
 * guess, a CSRF refusal, a refresh token presented twice). A line for every request is opt-in
 * (PORTCULLIS_ACCESS_LOG=1): at two lines a request, Fastify's own request logging cost as much CPU
 * as the authenticated read it described, and most deployments have a proxy that logs access anyway.
 */

/** Refusals worth a line: someone guessing, flooding or forging, never an honest anonymous visit. */
const SECURITY_REFUSALS: Partial<Record<ErrorCode, string>> = {
  throttled: 'throttled: too many attempts',
  csrf_failed: 'refused a cross-site request (CSRF)',
};

/** Called by the error handlers (API and pages) for every contract error they answer. */
export function logRefusal(request: FastifyRequest, error: ApiError): void {
  const message = SECURITY_REFUSALS[error.code];
  if (message) request.log.warn({ event: error.code, ip: request.ip, method: request.method, url: pathOf(request.url) }, message);
}

/** A spent refresh token came back: either its holder or a thief used it first; the family is revoked. */
export function logRefreshReuse(request: FastifyRequest): void {
  request.log.warn({ event: 'refresh_token_reused', ip: request.ip }, 'refresh token reused: its whole family is revoked');
}

/**
 * Failed logins from any door (API, token endpoint, pages), through the user_login_failed signal.
 * The credentials arrive with every secret field already masked; the identifier tried is kept, as
 * sshd and Django's axes keep it, so that a guessing campaign can be seen.
 */
export function logFailedLogins(app: FastifyInstance, portcullis: Portcullis): void {
  const onFailed = ({ credentials, request }: AuthEvents['user_login_failed'][0]) => {
    // Masked fields say nothing; leaving them out keeps even their names' stars out of the log.
    const tried = Object.fromEntries(Object.entries(credentials).filter(([, v]) => typeof v !== 'string' || !/^\*+$/.test(v)));
    app.log.warn({ event: 'login_failed', ip: request?.ip ?? null, credentials: tried }, 'login failed');
  };
  portcullis.events.on('user_login_failed', onFailed);
  app.addHook('onClose', (_app, done) => {
    portcullis.events.off('user_login_failed', onFailed);
    done();
  });
}

/** One line per request once it is answered (PORTCULLIS_ACCESS_LOG=1); never a header or a body. */
export function registerAccessLog(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    request.log.info(
      { method: request.method, url: pathOf(request.url), route: request.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
    done();
  });
}

/** The path alone: a query string may carry a reset token or a next= URL that is nobody's business. */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
