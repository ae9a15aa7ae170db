import '../keep-tick-shape.js';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Portcullis } from '../portcullis.js';
import type { PublicUser } from '../users/types.js';
import { portcullisApiError, sendError, toApiError } from '../http/errors.js';
import { ownOrigin } from '../http/csrf.js';
import { RequestContext, type AdapterOptions, type RequestFacts } from './core.js';
import type { RequestSession } from '../sessions/request-session.js';

export { RequestContext, loginResponse } from './core.js';
export type { AdapterOptions, LoginOutcome, RequestAuth } from './core.js';
export { RequestSession, SessionTooLargeError } from '../sessions/request-session.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The logged-in user as the API shows it (no password hash), or null. */
    user: PublicUser | null;
    /** Portcullis's view of this request: the full user, permissions, guards. */
    portcullis: RequestContext;
    /** The application session (Django's request.session); created only once something is stored. */
    session: RequestSession;
  }
}

export interface FastifyPortcullisOptions extends AdapterOptions {
  portcullis: Portcullis;
}

/** What the core reads of a Fastify request; the origin is worked out only if a rule asks for it. */
class FastifyFacts implements RequestFacts {
  readonly method: string;
  readonly authorization: string | undefined;
  readonly cookie: string | undefined;
  readonly origin: string | undefined;
  readonly secFetchSite: string | undefined;
  readonly userAgent: string | undefined;

  constructor(private readonly request: FastifyRequest) {
    const h = request.headers;
    this.method = request.method;
    this.authorization = h.authorization;
    this.cookie = h.cookie;
    this.origin = h.origin;
    this.secFetchSite = typeof h['sec-fetch-site'] === 'string' ? h['sec-fetch-site'] : undefined;
    this.userAgent = h['user-agent'];
  }

  get ownOrigin(): string {
    return ownOrigin(this.request);
  }

  /** Fastify's own answer, which follows its `trustProxy` option. */
  get ip(): string {
    return this.request.ip;
  }
}

/** Answers a contract error in the contract's shape; anything else goes on to Fastify's error handler. */
function answer(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const api = toApiError(err);
  if (!api) throw err;
  return sendError(request, reply, api);
}

/**
 * The error handler of every route without one of its own: portcullis's errors thrown in the app's
 * handlers and hooks (a guard, `login()`, the session over its limit, a store that is down) are
 * answered in the contract's shape; anything else is thrown on, which in Fastify hands it to the
 * scope's handler (the app's `setErrorHandler`, or Fastify's default), so the app's own errors keep
 * the answer the app gives them.
 */
function contractErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const api = portcullisApiError(error);
  if (!api) throw error;
  return sendError(request, reply, api);
}

async function portcullisPlugin(app: FastifyInstance, options: FastifyPortcullisOptions): Promise<void> {
  const { portcullis, csrf = true } = options;
  // Per route, not app.setErrorHandler: that would make the app's own setErrorHandler in this scope
  // warn (FSTWRN004), or fail with allowErrorHandlerOverride: false, and would let it swallow ours.
  // onRoute sees the routes declared after the plugin, hence `await app.register(...)`.
  app.addHook('onRoute', (route) => {
    route.errorHandler ??= contractErrors;
  });
  app.decorateRequest('user', null);
  app.decorateRequest('portcullis', null as unknown as RequestContext);
  app.decorateRequest('session', null as unknown as RequestSession);
  // Callback hooks with a synchronous path: a request whose user and session are known at once (no
  // credential, or a safe request the auth cache answers) passes them without a single promise.
  app.addHook('onRequest', (request, _reply, done) => {
    request.portcullis = new RequestContext(portcullis, new FastifyFacts(request), csrf);
    done();
  });
  // After body parsing and before any handler: by then request.user is settled.
  app.addHook('preHandler', (request, reply, done) => {
    const ctx = request.portcullis;
    try {
      if (csrf) ctx.checkCsrf();
      const user = ctx.knownUser();
      const session = user === undefined ? undefined : ctx.knownSession();
      if (session !== undefined) {
        request.user = user!;
        request.session = session;
        return done();
      }
    } catch (err) {
      return void answer(request, reply, err);
    }
    Promise.all([ctx.user(), ctx.session()]).then(
      ([user, session]) => {
        request.user = user;
        request.session = session;
        done();
      },
      (err: unknown) => {
        try {
          answer(request, reply, err);
        } catch (other) {
          done(other as Error);
        }
      },
    );
  });
  // The session is saved before the answer leaves, so its cookie can ride on it.
  app.addHook('onSend', (request, reply, payload, done) => {
    const ctx = request.portcullis;
    const atOnce = ctx.committedAtOnce();
    if (atOnce !== undefined) {
      if (atOnce.varyCookie) reply.header('vary', appendVary(reply.getHeader('vary'), 'Cookie'));
      return done(null, payload);
    }
    ctx.commitSession().then(({ setCookie, varyCookie }) => {
      if (setCookie) {
        const existing = reply.getHeader('set-cookie');
        reply.header('set-cookie', [...(existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)]), setCookie]);
      }
      if (varyCookie) reply.header('vary', appendVary(reply.getHeader('vary'), 'Cookie'));
      done(null, payload);
    }, (err: unknown) => done(err as Error));
  });
}

function appendVary(current: unknown, value: string): string {
  const parts = current === undefined ? [] : String(current).split(',').map((p) => p.trim()).filter(Boolean);
  return parts.some((p) => p.toLowerCase() === value.toLowerCase()) ? parts.join(', ') : [...parts, value].join(', ');
}

// Not encapsulated (what fastify-plugin does): the decorators and hooks reach the routes of the app
// that registers the plugin.
(portcullisPlugin as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')] = true;
(portcullisPlugin as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')] = 'portcullis';

/**
 * `app.register(portcullis, { portcullis: instance })`: every request gets `request.user` (or null)
 * and `request.portcullis`, resolved by the same core as portcullis's own server.
 */
export default portcullisPlugin;
export { portcullisPlugin as portcullis };

/** Route guard (`preHandler: requireUser`): 401 `not_authenticated` for anonymous callers. */
export const requireUser: preHandlerAsyncHookHandler = async function (request, reply) {
  try {
    await request.portcullis.requireUser();
  } catch (err) {
    return answer(request, reply, err);
  }
};

/** Route guard (`preHandler: requirePerm('app.codename')`): 401 for nobody, 403 `permission_denied` without the permission. */
export function requirePerm(perm: string): preHandlerAsyncHookHandler {
  return async function (request, reply) {
    try {
      await request.portcullis.requirePerm(perm);
    } catch (err) {
      return answer(request, reply, err);
    }
  };
}
