/**
 * A Hono app (any fetch-style handler works the same) using portcullis's users and sessions.
 * Portcullis's API (login, logout, /api/auth/*) runs beside it on its own port; the session cookie is
 * not tied to a port, so a browser logged in at http://localhost:8000 is logged in here too, and
 * scripts may send `Authorization: Session <key>` or `Authorization: Bearer <access token>`.
 *
 *   node --import tsx examples/hono-or-fetch/app.ts     (API on :8000, this app on :3000)
 */
import { Hono } from 'hono';
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { buildServer, createPortcullis, type CreateOptions, type PublicUser } from 'portcullis';
import { portcullisFetch } from 'portcullis/fetch';

export async function start(options: { port?: number; apiPort?: number; host?: string; portcullis?: CreateOptions } = {}) {
  const { port = 3000, apiPort = 8000, host = '127.0.0.1' } = options;
  const portcullis = await createPortcullis(options.portcullis);
  const api = await buildServer(portcullis, { logger: false });
  const auth = portcullisFetch(portcullis);

  const app = new Hono<{ Variables: { user: PublicUser | null } }>();
  app.use(auth.middleware());

  app.get('/', (c) => c.json({ hello: c.get('user')?.username ?? 'stranger' }));
  app.get('/private', async (c) => c.json({ user: await auth.requireUser(c.req.raw) }));
  app.get('/reports', async (c) => {
    await auth.requirePerm(c.req.raw, 'reports.view_report');
    return c.json({ reports: ['q1', 'q2'] });
  });
  app.post('/notes', async (c) => {
    const user = await auth.requireUser(c.req.raw);
    return c.json({ saved: true, by: user.username }, 201);
  });

  // The same adapter without any framework: a bare (Request) => Response handler.
  const bare = auth.handler(async (_request, user) => Response.json({ bare: true, user: user?.username ?? null }));
  app.get('/bare', (c) => bare(c.req.raw));

  await api.listen({ port: apiPort, host });
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port, hostname: host }, () => resolve(s));
  });
  const apiAddress = api.server.address() as AddressInfo;
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    apiUrl: `http://${host}:${apiAddress.port}`,
    portcullis,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await api.close();
      await portcullis.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const running = await start({ port: Number(process.env.PORT ?? 3000) });
  console.log(`app on ${running.url}, portcullis API on ${running.apiUrl}`);
}
