/**
 * Application sessions for every visitor (Django's request.session): a guest's visits are counted
 * and their cart kept in the session, and logging in keeps the cart under a new session key.
 *
 *   node --import tsx examples/visits-and-cart/app.ts     (on :3000)
 */
import Fastify from 'fastify';
import { createPortcullis, type CreateOptions } from 'portcullis';
import portcullis, { requireUser } from 'portcullis/fastify';

export async function start(options: { port?: number; host?: string; portcullis?: CreateOptions } = {}) {
  const { port = 3000, host = '127.0.0.1' } = options;
  const auth = await createPortcullis(options.portcullis);
  const app = Fastify();
  await app.register(portcullis, { portcullis: auth });

  // Reading the count and writing it back is what creates the guest's session on the first visit.
  app.get('/visits', async (request) => {
    const visits = (request.session.get<number>('visits') ?? 0) + 1;
    request.session.set('visits', visits);
    return { visits };
  });

  // Only reads: a visitor without a session gets none from this.
  app.get('/cart', async (request) => ({ cart: request.session.get<string[]>('cart') ?? [], user: request.user?.username ?? null }));

  app.post<{ Body: { item: string } }>('/cart', async (request, reply) => {
    const cart = request.session.get<string[]>('cart') ?? [];
    request.session.set('cart', [...cart, String(request.body.item)]);
    return reply.code(201).send({ cart: request.session.get('cart') });
  });

  app.delete('/cart', async (request, reply) => {
    request.session.delete('cart');
    return reply.code(204).send();
  });

  app.post<{ Body: { username: string; password: string } }>('/login', async (request, reply) => {
    // Portcullis's own login: its guessing limits (a 429 is answered for you), its login steps, a new session key.
    const result = await request.portcullis.login({ username: request.body.username, password: request.body.password });
    if (!result.ok) return reply.code(401).send({ error: { code: result.reason, message: 'The username or password is not correct.' } });
    return { user: result.user.username, cart: request.session.get('cart') ?? [] };
  });

  app.post('/logout', async (request, reply) => {
    await request.portcullis.logout();
    return reply.code(204).send();
  });

  app.post<{ Body: { lang: string } }>('/language', { preHandler: requireUser }, async (request) => {
    request.session.set('lang', request.body.lang);
    return { lang: request.body.lang };
  });

  await app.listen({ port, host });
  const address = app.server.address();
  return {
    url: typeof address === 'object' && address ? `http://${host}:${address.port}` : '',
    portcullis: auth,
    async close() {
      await app.close();
      await auth.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const running = await start({ port: Number(process.env.PORT ?? 3000) });
  console.log(`visits-and-cart example on ${running.url}`);
}
