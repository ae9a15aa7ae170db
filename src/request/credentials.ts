import type { Portcullis, SessionUser } from '../portcullis.js';
import type { User } from '../users/types.js';

/**
 * Where a request's credential is and how it becomes a user, for every door: portcullis's own
 * server and the Express, Fastify and fetch adapters all call these with the request's
 * `Authorization` header, its session cookie and its method.
 */

export type RequestAuth =
  /** A session key, from the cookie or `Authorization: Session <key>` from a non-browser client. */
  | (SessionUser & { via: 'cookie' | 'header' })
  /** A bearer access token: a user, but no session to change or list. */
  | { user: User; session: null; via: 'bearer' };

/**
 * The session key a request carries: the Authorization header first, else the cookie. A request
 * authorized by a Bearer token has no session key at all: its cookie is never read (the origin
 * rule exempts it on that understanding, see request/origin.ts).
 */
export function sessionKeyFrom(authorization: string | undefined, cookieValue: string | undefined): { key: string; via: 'cookie' | 'header' } | null {
  if (authorization && authorization.startsWith('Session ')) return { key: authorization.slice(8).trim(), via: 'header' };
  if (authorization && authorization.startsWith('Bearer ')) return null;
  return cookieValue ? { key: cookieValue, via: 'cookie' } : null;
}

/** Methods that change nothing: their credentials may be answered from the short-lived auth cache. */
export function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
function bearerToken(authorization: string | undefined): string | undefined {
  return authorization !== undefined && authorization.startsWith('Bearer ') ? authorization.slice(7).trim() : undefined;
}

/**
 * resolveAuth's answer when the auth cache already has it (a safe request whose credential was
 * checked a moment ago), with no promise in between; undefined when the store must be asked (or the
 * request is anonymous). Authenticated reads are most requests, and this is all they cost.
 */
export function cachedAuth(
  portcullis: Portcullis,
  authorization: string | undefined,
  cookieValue: string | undefined,
  method: string,
): RequestAuth | undefined {
  if (!isSafeMethod(method)) return undefined;
  const token = bearerToken(authorization);
  if (token !== undefined) {
    const user = portcullis.cachedTokenUser(token);
    return user && { user, session: null, via: 'bearer' };
  }
  const found = sessionKeyFrom(authorization, cookieValue);
  const su = found && portcullis.cachedSessionUser(found.key);
  return su ? { user: su.user, session: su.session, via: found.via } : undefined;
}

/**
 * Bearer token, else session key (header or cookie), else nobody. `method` decides whether a
 * credential checked a moment ago may be trusted again (safe methods: cachedAuth) or must go to the
 * store.
 */
export async function resolveAuth(
  portcullis: Portcullis,
  authorization: string | undefined,
  cookieValue: string | undefined,
  method = 'POST',
): Promise<RequestAuth | null> {
  const known = cachedAuth(portcullis, authorization, cookieValue, method);
  if (known) return known;
  const safe = isSafeMethod(method);
  const token = bearerToken(authorization);
  if (token !== undefined) {
    if (safe) portcullis.cacheMissed('token');
    const user = await portcullis.getUserFromAccessToken(token);
    return user ? { user, session: null, via: 'bearer' } : null;
  }
  const found = sessionKeyFrom(authorization, cookieValue);
  if (!found) return null;
  if (safe) portcullis.cacheMissed('session');
  const su = await portcullis.getUser(found.key);
  return su ? { user: su.user, session: su.session, via: found.via } : null;
}

