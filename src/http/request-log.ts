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

/**
 * Security events from any door (API, token endpoint, pages, adapters in this process), through the
 * portcullis events: failed logins, and refresh tokens presented twice.
 *
 * A failed login's credentials arrive with every secret field already masked; the identifier tried
 * is kept, as sshd and Django's axes keep it, so that a guessing campaign can be seen.
 */
export function logSecurityEvents(app: FastifyInstance, portcullis: Portcullis): void {
  const onFailed = ({ credentials, request }: AuthEvents['user_login_failed'][0]) => {
    // Masked fields say nothing; leaving them out keeps even their names' stars out of the log.
    const tried = Object.fromEntries(Object.entries(credentials).filter(([, v]) => typeof v !== 'string' || !/^\*+$/.test(v)));
    app.log.warn({ event: 'login_failed', ip: request?.ip ?? null, credentials: tried }, 'login failed');
  };
  // Either its holder or a thief used it first; the flow has revoked the family already.
  const onReused = ({ userId, request }: AuthEvents['refresh_token_reused'][0]) => {
    app.log.warn({ event: 'refresh_token_reused', ip: request?.ip ?? null, user_id: userId }, 'refresh token reused: its whole family is revoked');
  };
  portcullis.events.on('user_login_failed', onFailed);
  portcullis.events.on('refresh_token_reused', onReused);
  app.addHook('onClose', (_app, done) => {
    portcullis.events.off('user_login_failed', onFailed);
    portcullis.events.off('refresh_token_reused', onReused);
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
