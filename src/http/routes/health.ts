import type { FastifyInstance } from 'fastify';
import type { Portcullis } from '../../portcullis.js';

export async function healthRoutes(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;
  // Liveness: the process answers. Readiness: the stores it depends on answer too.
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    try {
      await portcullis.sessions.store.ping();
      await portcullis.users.ping();
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ error: { code: 'service_unavailable', message: 'A store is unreachable.' } });
    }
  });
}
