import type { FastifyRequest } from 'fastify';
import type { Portcullis, SessionUser } from '../portcullis.js';
import type { RequestInfo } from '../auth/backends.js';
import type { SessionRecord } from '../sessions/base.js';
import type { User } from '../users/types.js';
import { ApiError } from '../errors.js';

export type RequestAuth =
  /** A session key, from the cookie or `Authorization: Session <key>` from a non-browser client. */
  | (SessionUser & { via: 'cookie' | 'header' })
  /** A bearer access token: a user, but no session to change or list. */
  | { user: User; session: null; via: 'bearer' };

const resolved = new WeakMap<FastifyRequest, Promise<RequestAuth | null>>();

/** The session key the request carries, from the Authorization header first, else the cookie. */
export function sessionKeyOf(request: FastifyRequest, cookieName: string): { key: string; via: 'cookie' | 'header' } | null {
  const header = request.headers.authorization;
  if (header && header.startsWith('Session ')) return { key: header.slice(8).trim(), via: 'header' };
  const cookie = request.cookies[cookieName];
  return cookie ? { key: cookie, via: 'cookie' } : null;
}

/** Resolves the caller once per request, however many handlers ask. */
export function authOf(portcullis: Portcullis, request: FastifyRequest): Promise<RequestAuth | null> {
  let pending = resolved.get(request);
  if (!pending) {
    const header = request.headers.authorization;
    const found = sessionKeyOf(request, portcullis.config.sessionCookieName);
    if (header && header.startsWith('Bearer ')) {
      pending = portcullis
        .getUserFromAccessToken(header.slice(7).trim())
        .then((user) => (user ? { user, session: null, via: 'bearer' as const } : null));
    } else if (found) {
      pending = portcullis.getUser(found.key).then((su) => (su ? { ...su, via: found.via } : null));
    } else pending = Promise.resolve(null);
    resolved.set(request, pending);
  }
  return pending;
}

export async function requireAuth(portcullis: Portcullis, request: FastifyRequest): Promise<RequestAuth> {
  const auth = await authOf(portcullis, request);
  if (!auth) throw new ApiError('not_authenticated');
  return auth;
}

/** Routes that act on the session itself (password change, session lists) need one, not a bearer token. */
export async function requireSession(portcullis: Portcullis, request: FastifyRequest): Promise<SessionUser & { via: 'cookie' | 'header' }> {
  const auth = await requireAuth(portcullis, request);
  if (auth.via === 'bearer') throw new ApiError('not_authenticated');
  return auth;
}

/** The session a request arrived with, even an anonymous one, so that login can replace it. */
export async function currentSession(portcullis: Portcullis, request: FastifyRequest): Promise<SessionRecord | null> {
  const found = sessionKeyOf(request, portcullis.config.sessionCookieName);
  return found ? portcullis.sessions.load(found.key) : null;
}

export function requestInfo(request: FastifyRequest): RequestInfo {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua : null };
}
