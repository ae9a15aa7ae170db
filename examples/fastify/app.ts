/**
 * Your own Fastify app using portcullis's users and sessions. Portcullis's API (login, logout,
 * /api/auth/*) runs beside it on its own port; the session cookie is not tied to a port, so a browser
 * logged in at http://localhost:8000 is logged in here too, and scripts may send
 * `Authorization: Session <key>` or `Authorization: Bearer <access token>`.
 *
 *   node --import tsx examples/fastify/app.ts     (API on :8000, this app on :3000)
 */
import Fastify from 'fastify';
import { buildServer, createPortcullis, type CreateOptions } from 'portcullis';
import portcullis, { requirePerm, requireUser } from 'portcullis/fastify';

export async function start(options: { port?: number; apiPort?: number; host?: string; portcullis?: CreateOptions } = {}) {
  const { port = 3000, apiPort = 8000, host = '127.0.0.1' } = options;
  const auth = await createPortcullis(options.portcullis);
  const api = await buildServer(auth, { logger: false });

  const app = Fastify();
  await app.register(portcullis, { portcullis: auth });

  app.get('/', async (request) => ({ hello: request.user ? request.user.username : 'stranger' }));
  app.get('/private', { preHandler: requireUser }, async (request) => ({ user: request.user }));
  app.get('/reports', { preHandler: requirePerm('reports.view_report') }, async () => ({ reports: ['q1', 'q2'] }));
  app.post('/notes', { preHandler: requireUser }, async (request, reply) => reply.code(201).send({ saved: true, by: request.user?.username }));

  await api.listen({ port: apiPort, host });
  await app.listen({ port, host });
  const addressOf = (s: typeof app.server) => {
    const a = s.address();
    return typeof a === 'object' && a ? `http://${host}:${a.port}` : '';
  };
  return {
    url: addressOf(app.server),
    apiUrl: addressOf(api.server),
    portcullis: auth,
    async close() {
      await app.close();
      await api.close();
      await auth.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const running = await start({ port: Number(process.env.PORT ?? 3000) });
  console.log(`app on ${running.url}, portcullis API on ${running.apiUrl}`);
}
