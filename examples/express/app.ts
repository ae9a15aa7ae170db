/**
 * Your own Express app using portcullis's users and sessions. Portcullis's API (login, logout,
 * /api/auth/*) runs beside it on its own port; the session cookie is not tied to a port, so a browser
 * logged in at http://localhost:8000 is logged in here too, and scripts may send
 * `Authorization: Session <key>` or `Authorization: Bearer <access token>`.
 *
 *   node --import tsx examples/express/app.ts     (API on :8000, this app on :3000)
 */
import express from 'express';
import type { Server } from 'node:http';
import { buildServer, createPortcullis, type CreateOptions } from 'portcullis';
import { errorHandler, portcullis, requirePerm, requireUser } from 'portcullis/express';

export async function start(options: { port?: number; apiPort?: number; host?: string; portcullis?: CreateOptions } = {}) {
  const { port = 3000, apiPort = 8000, host = '127.0.0.1' } = options;
  const auth = await createPortcullis(options.portcullis);
  const api = await buildServer(auth, { logger: false });

  const app = express();
  app.use(express.json());
  app.use(portcullis(auth));

  app.get('/', (req, res) => {
    res.json({ hello: req.user ? req.user.username : 'stranger' });
  });
  app.get('/private', requireUser, (req, res) => {
    res.json({ user: req.user });
  });
  app.get('/reports', requirePerm('reports.view_report'), (_req, res) => {
    res.json({ reports: ['q1', 'q2'] });
  });
  app.post('/notes', requireUser, (req, res) => {
    res.status(201).json({ saved: true, by: req.user?.username });
  });
  app.use(errorHandler());

  await api.listen({ port: apiPort, host });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(port, host, () => resolve(s));
  });
  const a = server.address();
  const b = api.server.address();
  return {
    url: typeof a === 'object' && a ? `http://${host}:${a.port}` : '',
    apiUrl: typeof b === 'object' && b ? `http://${host}:${b.port}` : '',
    portcullis: auth,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await api.close();
      await auth.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const running = await start({ port: Number(process.env.PORT ?? 3000) });
  console.log(`app on ${running.url}, portcullis API on ${running.apiUrl}`);
}
