import type { FastifyInstance } from 'fastify';
import type { Portcullis } from '../portcullis.js';
import { ApiError } from '../errors.js';
import { metricsTokenMatches } from '../metrics/index.js';
import { sendError } from './errors.js';

/**
 * The server's part of the metrics, when they are on: every answered request's time, by its route's
 * pattern, and, with PORTCULLIS_METRICS_TOKEN, GET /metrics on this public port for that token alone.
 * Anyone else gets the same 404 as any unknown path, so the public port does not say it is there.
 * (PORTCULLIS_METRICS_PORT, the private listener, is src/metrics/listener.ts, started by `serve`.)
 */
export function registerMetrics(app: FastifyInstance, portcullis: Portcullis): void {
  const { metrics } = portcullis;
  if (metrics === null) return;
  app.addHook('onResponse', (request, reply, done) => {
    metrics.request(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  const token = portcullis.config.metricsToken;
  if (token === undefined) return;
  // The API's headers, so that the 404 for anyone without the token is any unknown path's 404.
  app.get('/metrics', { schema: { hide: true }, config: { securityHeaders: 'api' } }, async (request, reply) => {
    if (!metricsTokenMatches(request.headers.authorization, token)) return sendError(request, reply, new ApiError('not_found'));
    return reply.type(metrics.contentType).header('cache-control', 'no-store').send(await metrics.text());
  });
}
