import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PortcullisConfig } from '../config.js';
import { diagnoseOrigin } from '../doctor.js';
import { ownOrigin } from './csrf.js';

export const WARNING_HEADER = 'Portcullis-Warning';

/** A header value must be ASCII on one line; the doctor's words mostly are, this makes sure. */
function headerSafe(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').slice(0, 1000);
}

/**
 * The cookie doctor at runtime: a login whose browser will drop or withhold the session cookie
 * (cross-site with SameSite=Lax, SameSite=None without Secure, an untrusted origin, localhost versus
 * 127.0.0.1) looks like success and then fails on the next request, so the server says so at once:
 * a warning in its log and, outside production, a `Portcullis-Warning` header the frontend's
 * developer sees in the network panel (and can read from script: it is a CORS-exposed header).
 *
 * It runs in the server's request hook before the CSRF check, because an untrusted origin is refused
 * there and is one of the mistakes to explain.
 */
export function originWarningStep(config: PortcullisConfig, loginPath = '/api/auth/login'): (request: FastifyRequest, reply: FastifyReply) => void {
  return (request, reply) => {
    const origin = request.headers.origin;
    // The matched route, not the raw URL, which may spell it otherwise (/%61pi/auth/login).
    if (request.method !== 'POST' || origin === undefined || request.routeOptions.url !== loginPath) return;
    const problems = diagnoseOrigin(config, origin, ownOrigin(request)).filter((f) => f.level === 'error');
    if (!problems.length) return;
    const text = problems.map((f) => (f.fix ? `${f.message} Fix: ${f.fix}` : f.message)).join(' | ');
    request.log.warn({ origin }, `login from ${origin}: ${text}`);
    if (!config.production) reply.header(WARNING_HEADER, headerSafe(text));
  };
}
