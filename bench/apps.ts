/**
 * An application using the library as a user would: a small Fastify, Express or Hono app importing
 * the built package (`portcullis`, `portcullis/fastify`, `portcullis/express`, `portcullis/fetch`,
 * resolved through package.json's exports to dist/), with defaults everywhere (SQLite in ./data of
 * the working directory run.ts gives it). Two routes answer the same JSON:
 *
 * - GET /guarded: the adapter resolves the session cookie and the route requires a user;
 * - GET /bare: the same framework, the same process, the same app-wide middleware, no portcullis.
 *
 * Usage: apps.ts <fastify|express|hono>. Creates a user and a session, then prints
 * `READY <port> <Cookie header>`; SIGTERM closes it.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createPortcullis, type PublicUser } from 'portcullis';
import { BENCH_USER } from './common.js';

const framework = process.argv[2];
const auth = await createPortcullis();
const user = (await auth.users.getByLogin(BENCH_USER.username)) ?? (await auth.users.createUser(BENCH_USER));
const { key } = await auth.login(user, 'model');
const cookie = `${auth.config.sessionCookieName}=${key}`;

/** What /bare answers: the body /guarded gave, set once the server is up. */
let bareBody: unknown = {};

async function fastifyApp(): Promise<{ port: number; close(): Promise<void> }> {
  const { default: Fastify } = await import('fastify');
  const { default: portcullis, requireUser } = await import('portcullis/fastify');
  const app = Fastify();
  app.get('/bare', async () => bareBody);
  // The plugin decorates and hooks the context it is registered in: here only the guarded route's.
  await app.register(async (guarded) => {
    await guarded.register(portcullis, { portcullis: auth });
    guarded.get('/guarded', { preHandler: requireUser }, async (request) => ({ user: request.user }));
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
}

async function expressApp(): Promise<{ port: number; close(): Promise<void> }> {
  const { default: express } = await import('express');
  const { portcullis, requireUser, errorHandler } = await import('portcullis/express');
  const app = express();
  app.use(express.json());
  // Registered before the portcullis middleware, which therefore never runs for it.
  app.get('/bare', (_req, res) => {
    res.json(bareBody);
  });
  app.use(portcullis(auth));
  app.get('/guarded', requireUser, (req, res) => {
    res.json({ user: req.user });
  });
  app.use(errorHandler());
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

async function honoApp(): Promise<{ port: number; close(): Promise<void> }> {
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
  const { portcullisFetch } = await import('portcullis/fetch');
  const fetchAuth = portcullisFetch(auth);
  const app = new Hono<{ Variables: { user: PublicUser | null } }>();
  app.get('/bare', (c) => c.json(bareBody));
  app.use('/guarded', fetchAuth.middleware());
  app.get('/guarded', async (c) => c.json({ user: await fetchAuth.requireUser(c.req.raw) }));
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const apps: Record<string, () => Promise<{ port: number; close(): Promise<void> }>> = { fastify: fastifyApp, express: expressApp, hono: honoApp };
const start = framework ? apps[framework] : undefined;
if (!start) throw new Error(`usage: apps.ts <${Object.keys(apps).join('|')}>`);
const { port, close } = await start();

const res = await fetch(`http://127.0.0.1:${port}/guarded`, { headers: { cookie } });
if (res.status !== 200) throw new Error(`/guarded answered ${res.status}: ${await res.text()}`);
bareBody = await res.json();
process.stdout.write(`READY ${port} ${cookie}\n`);

process.once('SIGTERM', () => {
  void close()
    .then(() => auth.close())
    .finally(() => process.exit(0));
});
