import type { FastifyInstance } from 'fastify';
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
 * runs; any other origin gets no CORS header at all (its preflight finds no route: 404).
 *
 * This replaced @fastify/cors. With an origin function (the only form of its options that sends
 * nothing to an untrusted origin) the plugin copies its options object and builds closures on every
 * request; A/B runs of GET /api/auth/me under wrk put that at about 4 µs of a request that costs ~50,
 * the largest single item on the authenticated hot path, for what these few lines do.
 */
export function registerCors(app: FastifyInstance, options: CorsOptions): void {
  const trusted = new Set(options.trustedOrigins);
  const exposed = options.exposedHeaders.join(', ');
  app.addHook('onRequest', (request, reply, done) => {
    const preflightMethod = request.headers['access-control-request-method'];
    const answer = corsAnswer(request.method, request.headers.origin, typeof preflightMethod === 'string' ? preflightMethod : undefined, trusted, exposed);
    reply.headers(answer.headers);
    // Answered from the hook (no done()): the browser sends no credentials with a preflight.
    if (answer.preflight) return void reply.code(204).header('content-length', '0').send();
    done();
  });
  // A preflight to any path must reach the hook above, which answers it when the origin is trusted.
  app.options('*', { schema: { hide: true } }, (_request, reply) => {
    reply.callNotFound();
  });
}
