import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { corsAnswer } from '../request/origin.js';

export interface CorsOptions {
  /** PORTCULLIS_TRUSTED_ORIGINS: exact origins (`http://localhost:5173`), compared as strings. */
  trustedOrigins: readonly string[];
  /** Response headers a trusted frontend's script may read. */
  exposedHeaders: readonly string[];
}

/**
 * Contract section 6, CORS with credentials for trusted origins, by the rule in src/request/origin.ts
 * (`corsAnswer`): a trusted origin's preflight gets a 204 before any authentication or CSRF check
 * runs (the returned step comes before them in the server's request hook); any other origin gets no
 * CORS header at all (its preflight finds no route: 404).
 *
 * This replaced @fastify/cors. With an origin function (the only form of its options that sends
 * nothing to an untrusted origin) the plugin copies its options object and builds closures on every
 * request; A/B runs of GET /api/auth/me under wrk put that at about 4 µs of a request that costs ~50,
 * the largest single item on the authenticated hot path, for what these few lines do.
 */
export function registerCors(app: FastifyInstance, options: CorsOptions): CorsStep {
  // A preflight to any path must reach the request hook, which answers it when the origin is trusted.
  app.options('*', { schema: { hide: true } }, (_request, reply) => {
    reply.callNotFound();
  });
  return corsStep(options);
}

/**
 * The CORS part of the server's request hook (server.ts): true when it answered the request itself
 * (a trusted origin's preflight), which then goes no further.
 */
export type CorsStep = (request: FastifyRequest, reply: FastifyReply) => boolean;

function corsStep(options: CorsOptions): CorsStep {
  const trusted = new Set(options.trustedOrigins);
  const exposed = options.exposedHeaders.join(', ');
  const refused = refusalLog([...trusted]);
  return (request, reply) => {
    const preflightMethod = request.headers['access-control-request-method'];
    const answer = corsAnswer(request.method, request.headers.origin, typeof preflightMethod === 'string' ? preflightMethod : undefined, trusted, exposed);
    reply.headers(answer.headers);
    // Answered here: the browser sends no credentials with a preflight.
    if (answer.preflight) {
      void reply.code(204).header('content-length', '0').send();
      return true;
    }
    // A browser's preflight from an origin we do not trust fails silently in the page: say why here.
    if (request.method === 'OPTIONS' && preflightMethod !== undefined && request.headers.origin !== undefined) refused(request.headers.origin, request.log);
    return false;
  };
}

/** How often one refused origin is named in the log. */
const REFUSAL_LOG_MS = 10 * 60_000;
const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/;

/**
 * Logs a refused preflight once per origin per ten minutes, with the one change that lets that
 * origin in. An origin that does not even look like one is logged without being repeated.
 */
function refusalLog(trusted: string[]): (origin: string, log: { warn(obj: object, msg: string): void }) => void {
  const last = new Map<string, number>();
  return (origin, log) => {
    const now = Date.now();
    const key = ORIGIN.test(origin) ? origin : '(malformed)';
    if (now - (last.get(key) ?? -Infinity) < REFUSAL_LOG_MS) return;
    if (last.size >= 1000) last.clear();
    last.set(key, now);
    if (key === '(malformed)') return log.warn({ event: 'cors_refused' }, 'A CORS preflight came with a malformed Origin header and was refused.');
    log.warn(
      { event: 'cors_refused', origin },
      `A browser page at ${origin} was refused: its CORS preflight came from an origin that is not trusted, so the browser will not send the request (nor keep a session cookie). If that page is yours, set PORTCULLIS_TRUSTED_ORIGINS=${[...trusted, origin].join(',')}`,
    );
  };
}
