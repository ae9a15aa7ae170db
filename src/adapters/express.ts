import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Portcullis } from '../portcullis.js';
import type { PublicUser } from '../users/types.js';
import { errorBody, errorHeaders, toApiError } from '../http/errors.js';
import { RequestContext, type AdapterOptions } from './core.js';

export { RequestContext } from './core.js';
export type { AdapterOptions, RequestAuth } from './core.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The logged-in user as the API shows it (no password hash), or null; set by the portcullis middleware. */
      user?: PublicUser | null;
      /** Portcullis's view of this request: the full user, permissions, guards. */
      portcullis?: RequestContext;
    }
  }
}

function factsOf(req: Request) {
  const h = req.headers;
  return {
    method: req.method,
    ownOrigin: `${req.protocol}://${req.get('host') ?? ''}`,
    authorization: h.authorization,
    cookie: h.cookie,
    origin: h.origin,
    secFetchSite: typeof h['sec-fetch-site'] === 'string' ? h['sec-fetch-site'] : undefined,
  };
}

/** Answers a contract error in the contract's shape; anything else goes to the app's error handlers. */
function answer(err: unknown, req: Request, res: Response, next: NextFunction): void {
  const api = toApiError(err);
  if (!api) return next(err);
  res.status(api.status).set(errorHeaders(api)).json(errorBody(api, req.headers['accept-language']));
}

function contextOf(req: Request): RequestContext {
  if (!req.portcullis) throw new Error('portcullis/express: app.use(portcullis(instance)) must come before the guards.');
  return req.portcullis;
}

/**
 * `app.use(portcullis(instance))`: sets `req.user` (or null) and `req.portcullis` on every request,
 * resolved by the same core as portcullis's own server.
 */
export function portcullis(instance: Portcullis, options: AdapterOptions = {}): RequestHandler {
  const { csrf = true } = options;
  return (req, res, next) => {
    const ctx = new RequestContext(instance, factsOf(req));
    req.portcullis = ctx;
    req.user = null;
    const work = async () => {
      if (csrf) ctx.checkCsrf();
      req.user = await ctx.publicUser();
    };
    work().then(() => next(), (err: unknown) => answer(err, req, res, next));
  };
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
