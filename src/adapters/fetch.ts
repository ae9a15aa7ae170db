import '../keep-tick-shape.js';
import type { Portcullis } from '../portcullis.js';
import type { PublicUser } from '../users/types.js';
import { errorBody, errorHeaders, portcullisApiError, toApiError } from '../http/errors.js';
import { RequestContext, type AdapterOptions, type RequestFacts } from './core.js';
import { ApiError } from '../errors.js';
import type { RequestSession } from '../sessions/request-session.js';

export { RequestContext, loginResponse } from './core.js';
export type { AdapterOptions, LoginOutcome, RequestAuth } from './core.js';
export { RequestSession, SessionTooLargeError } from '../sessions/request-session.js';

/** What a Hono-style middleware sees: the raw Request and a per-request variable store. */
export interface MiddlewareContext {
  req: { raw: Request };
  set(key: 'user', value: PublicUser | null): void;
  set(key: 'session', value: RequestSession): void;
  res: Response;
  /** What a handler threw, once the app's onError has answered it (Hono sets it). */
  readonly error?: unknown;
}

export interface FetchAuth {
  /** Portcullis's view of this request, created once per Request object. */
  context(request: Request): RequestContext;
  /** The logged-in user as the API shows it (no password hash), or null. */
  user(request: Request): Promise<PublicUser | null>;
  /** The user, or a thrown 401 `not_authenticated` (answer it with `errorResponse`). */
  requireUser(request: Request): Promise<PublicUser>;
  /** The user if they hold `perm`; else a thrown 401 or 403 `permission_denied`. */
  requirePerm(request: Request, perm: string): Promise<PublicUser>;
  /** A contract error Response for a portcullis error, or null for any other error. */
  errorResponse(err: unknown, request: Request): Response | null;
  /** The application session of this request (created only once something is stored). */
  session(request: Request): Promise<RequestSession>;
  /** Saves the request's session and adds its Set-Cookie / Vary headers to the answer. */
  finish(request: Request, response: Response): Promise<Response>;
  /** Wraps a plain fetch handler: CSRF origin check, user and session resolved, session saved, portcullis errors answered. */
  handler(fn: (request: Request, user: PublicUser | null, session: RequestSession) => Response | Promise<Response>): (request: Request) => Promise<Response>;
  /** Hono middleware: `app.use(auth.middleware())`, then `c.get("user")` in any handler. */
  middleware(): (c: MiddlewareContext, next: () => Promise<void>) => Promise<Response | void>;
}

/**
 * What the core reads of a Request. Headers of a fetch Request are costly to read (each get() is a
 * validated lookup), so only the credential's two are read up front; the rest (the origin rule of an
 * unsafe request, a login's client) are read when asked.
 */
class FetchFacts implements RequestFacts {
  readonly method: string;
  readonly authorization: string | undefined;
  readonly cookie: string | undefined;

  constructor(
    private readonly request: Request,
    private readonly clientIp: AdapterOptions['clientIp'],
  ) {
    const h = request.headers;
    this.method = request.method;
    this.authorization = h.get('authorization') ?? undefined;
    this.cookie = h.get('cookie') ?? undefined;
  }

  /** Read only by the CSRF check of an unsafe request and by the Secure decision when a cookie is set. */
  get ownOrigin(): string {
    return new URL(this.request.url).origin;
  }

  get origin(): string | undefined {
    return this.request.headers.get('origin') ?? undefined;
  }

  get secFetchSite(): string | undefined {
    return this.request.headers.get('sec-fetch-site') ?? undefined;
  }

  get userAgent(): string | undefined {
    return this.request.headers.get('user-agent') ?? undefined;
  }

  get ip(): string | undefined {
    return this.clientIp?.(this.request);
  }
}

function apiResponse(api: ApiError, request: Request): Response {
  return Response.json(errorBody(api, request.headers.get('accept-language') ?? undefined), { status: api.status, headers: errorHeaders(api) });
}

/** Portcullis for fetch-style handlers (Hono, Bun.serve, Deno.serve, Cloudflare-style workers on Node). */
export function portcullisFetch(portcullis: Portcullis, options: AdapterOptions = {}): FetchAuth {
  const { csrf = true, clientIp } = options;
  // The context rides on the Request itself, under a symbol of this instance: a WeakMap entry per
  // request is work for the garbage collector on every request (ephemerons), a property is not.
  const slot = Symbol('portcullis.context');
  const context = (request: Request) => {
    const carrier = request as unknown as { [slot]?: RequestContext };
    return (carrier[slot] ??= new RequestContext(portcullis, new FetchFacts(request, clientIp), csrf));
  };
  const user = async (request: Request) => {
    const ctx = context(request);
    if (csrf) ctx.checkCsrf();
    const known = ctx.knownUser();
    return known !== undefined ? known : ctx.user();
  };
  const errorResponse = (err: unknown, request: Request) => {
    const api = toApiError(err);
    return api ? apiResponse(api, request) : null;
  };
  const finish = async (request: Request, response: Response) => {
    const ctx = context(request);
    const { setCookie, varyCookie } = ctx.committedAtOnce() ?? (await ctx.commitSession());
    if (!setCookie && !varyCookie) return response;
    // Responses from fetch() have immutable headers; a copy takes the cookie.
    const out = new Response(response.body, response);
    if (setCookie) out.headers.append('set-cookie', setCookie);
    if (varyCookie) out.headers.append('vary', 'Cookie');
    return out;
  };
  return {
    context,
    user,
    errorResponse,
    finish,
    session: (request) => context(request).session(),
    async requireUser(request) {
      const found = await user(request);
      if (!found) throw new ApiError('not_authenticated');
      return found;
    },
    async requirePerm(request, perm) {
      await user(request);
      return context(request).requirePerm(perm);
    },
    handler(fn) {
      return async (request) => {
        try {
          const u = await user(request);
          return await finish(request, await fn(request, u, await context(request).session()));
        } catch (err) {
          const res = errorResponse(err, request);
          if (res) return res;
          throw err;
        }
      };
    },
    middleware() {
      return async (c, next) => {
        try {
          const ctx = context(c.req.raw);
          c.set('user', await user(c.req.raw));
          c.set('session', ctx.knownSession() ?? (await ctx.session()));
        } catch (err) {
          const res = errorResponse(err, c.req.raw);
          if (res) return res;
          throw err;
        }
        await next();
        // A portcullis error thrown in a handler (a guard, login(), the session over its limit) has
        // been answered by the app's onError, or by Hono's default as a bare 500: the contract's
        // answer replaces it. The app's own errors keep the answer its onError gave them.
        if (c.error !== undefined) {
          const api = portcullisApiError(c.error);
          if (api) c.res = apiResponse(api, c.req.raw);
        }
        // Hono's res setter copies the response and its headers into a new one (and on Node makes
        // @hono/node-server build a full Response): only worth it when a cookie or Vary was added.
        const res = await finish(c.req.raw, c.res);
        if (res !== c.res) c.res = res;
      };
    },
  };
}
