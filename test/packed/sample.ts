// Type-checked inside a new project that installed the packed tarball (run.sh), under the
// moduleResolution modes users have: node16, nodenext and bundler. Every entry point is imported and
// something of each is used with its type, so a missing export, .d.ts or referenced type fails here.
import { buildServer, createPortcullis, ApiError, type CreateOptions, type Portcullis } from 'portcullis';
import { checkPassword, makePassword, type PasswordHasher } from 'portcullis/passwords';
import { PortcullisClient, PortcullisError, type User } from 'portcullis/client';
import fastifyPortcullis, { requireUser as fastifyRequireUser } from 'portcullis/fastify';
import { errorHandler, portcullis as expressPortcullis, requireUser as expressRequireUser } from 'portcullis/express';
import { portcullisFetch, type FetchAuth } from 'portcullis/fetch';
import type { FastifyInstance } from 'fastify';
import type { RequestHandler } from 'express';

export async function sample(options: CreateOptions): Promise<void> {
  const auth: Portcullis = await createPortcullis(options);
  const server: FastifyInstance = await buildServer(auth, { logger: false });
  const hash: string = await makePassword('a long passphrase');
  const ok: boolean = await checkPassword('a long passphrase', hash);
  const hasher: PasswordHasher | undefined = undefined;
  const client = new PortcullisClient({ baseUrl: 'http://127.0.0.1:8000', cookieJar: true });
  const me: Promise<User> = client.me();
  const failed: boolean = new ApiError('not_authenticated') instanceof Error && PortcullisError.prototype instanceof Error;
  await server.register(fastifyPortcullis, { portcullis: auth });
  server.get('/private', { preHandler: fastifyRequireUser }, async () => 'ok');
  const middleware: RequestHandler = expressPortcullis(auth);
  const guards: unknown[] = [middleware, expressRequireUser, errorHandler()];
  const fetchAuth: FetchAuth = portcullisFetch(auth);
  void [ok, hasher, me, failed, guards, fetchAuth];
}
