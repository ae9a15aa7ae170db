import '../keep-tick-shape.js';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Portcullis } from '../portcullis.js';
import type { PublicUser } from '../users/types.js';
import { errorBody, errorHeaders, toApiError } from '../http/errors.js';
import { RequestContext, type AdapterOptions, type RequestFacts } from './core.js';
import type { RequestSession } from '../sessions/request-session.js';

export { RequestContext, loginResponse } from './core.js';
export type { AdapterOptions, LoginOutcome, RequestAuth } from './core.js';
export { RequestSession, SessionTooLargeError } from '../sessions/request-session.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    // Present on every request once `app.use(portcullis(instance))` is installed (before your routes).
    interface Request {
      /** The logged-in user as the API shows it (no password hash), or null; set by the portcullis middleware. */
      user: PublicUser | null;
      /** Portcullis's view of this request: login, logout, permissions, guards. */
      portcullis: RequestContext;
      /** The application session (Django's request.session); created only once something is stored. */
      session: RequestSession;
    }
  }
}

/** What the core reads of an Express request; protocol, host and address only if a rule asks for them. */
class ExpressFacts implements RequestFacts {
  readonly method: string;
  readonly authorization: string | undefined;
  readonly cookie: string | undefined;
  readonly origin: string | undefined;
  readonly secFetchSite: string | undefined;
  readonly userAgent: string | undefined;

  constructor(private readonly req: Request) {
    const h = req.headers;
    this.method = req.method;
    this.authorization = h.authorization;
    this.cookie = h.cookie;
    this.origin = h.origin;
    this.secFetchSite = typeof h['sec-fetch-site'] === 'string' ? h['sec-fetch-site'] : undefined;
    this.userAgent = h['user-agent'];
  }

  get ownOrigin(): string {
    return `${this.req.protocol}://${this.req.get('host') ?? ''}`;
  }

  /** Express's own answer, which follows the app's `trust proxy` setting. */
  get ip(): string | undefined {
    return this.req.ip;
  }
}

/** Answers a contract error in the contract's shape; anything else goes to the app's error handlers. */
function answer(err: unknown, req: Request, res: Response, next: NextFunction): void {
  const api = toApiError(err);
  if (!api) return next(err);
  res.status(api.status).set(errorHeaders(api)).json(errorBody(api, req.headers['accept-language']));
}

function contextOf(req: Request): RequestContext {
  if (!(req.portcullis as RequestContext | undefined)) throw new Error('portcullis/express: app.use(portcullis(instance)) must come before the guards.');
  return req.portcullis;
}

/**
 * `app.use(portcullis(instance))`: sets `req.user` (or null) and `req.portcullis` on every request,
 * resolved by the same core as portcullis's own server.
 */
export function portcullis(instance: Portcullis, options: AdapterOptions = {}): RequestHandler {
  const { csrf = true } = options;
  const answering = new WeakSet<object>();
  return (req, res, next) => {
    // Errors thrown by portcullis in the app's own routes (or a malformed body) are answered in the
    // contract's shape rather than as Express's HTML page: the error handler goes at the end of the
    // app's stack, once, on its first request (an app may also place errorHandler() itself).
    if (!answering.has(req.app)) {
      answering.add(req.app);
      req.app.use(errorHandler());
    }
    const ctx = new RequestContext(instance, new ExpressFacts(req), csrf);
    req.portcullis = ctx;
    req.user = null;
    try {
      if (csrf) ctx.checkCsrf();
      // Known at once (no credential, or a safe request the auth cache answers): no promise at all.
      const user = ctx.knownUser();
      const session = user === undefined ? undefined : ctx.knownSession();
      if (session !== undefined) {
        req.user = user!;
        req.session = session;
        saveBeforeEnd(res, ctx);
        return next();
      }
    } catch (err) {
      return answer(err, req, res, next);
    }
    Promise.all([ctx.user(), ctx.session()]).then(
      ([user, session]) => {
        req.user = user;
        req.session = session;
        saveBeforeEnd(res, ctx);
        next();
      },
      (err: unknown) => answer(err, req, res, next),
    );
  };
}

/**
 * Holds back res.end until the session is saved, so its cookie can still be set (express-session does
 * the same). Headers an app has already flushed by streaming cannot be changed any more.
 */
function saveBeforeEnd(res: Response, ctx: RequestContext): void {
  const end = res.end.bind(res) as (...args: unknown[]) => Response;
  let saving = false;
  res.end = ((...args: unknown[]) => {
    if (saving) return res;
    saving = true;
    const atOnce = ctx.committedAtOnce();
    if (atOnce !== undefined) {
      if (atOnce.varyCookie && !res.headersSent) res.vary('Cookie');
      return end(...args);
    }
    ctx.commitSession().then(
      ({ setCookie, varyCookie }) => {
        if (!res.headersSent) {
          if (setCookie) res.append('Set-Cookie', setCookie);
          if (varyCookie) res.vary('Cookie');
        }
        end(...args);
      },
      (err: unknown) => {
        res.destroy(err instanceof Error ? err : new Error(String(err)));
      },
    );
    return res;
  }) as Response['end'];
}

/** Route guard: 401 `not_authenticated` for anonymous callers. */
export const requireUser: RequestHandler = (req, res, next) => {
  contextOf(req)
    .requireUser()
    .then(() => next(), (err: unknown) => answer(err, req, res, next));
};

/** Route guard: 401 for nobody, 403 `permission_denied` without `perm` ("app_label.codename"). */
export function requirePerm(perm: string): RequestHandler {
  return (req, res, next) => {
    contextOf(req)
      .requirePerm(perm)
      .then(() => next(), (err: unknown) => answer(err, req, res, next));
  };
}

/** An Express error handler that answers portcullis errors thrown in your own routes in the contract's shape. */
export function errorHandler(): (err: unknown, req: Request, res: Response, next: NextFunction) => void {
  return (err, req, res, next) => answer(err, req, res, next);
}
