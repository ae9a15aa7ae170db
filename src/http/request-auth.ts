import type { ClientInfo } from '../flows/credentials.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Portcullis, SessionUser } from '../portcullis.js';
import type { SessionRecord } from '../sessions/base.js';
import { ApiError } from '../errors.js';
import { cachedAuth, resolveAuth, sessionKeyFrom, type RequestAuth } from '../request/credentials.js';

export type { RequestAuth };

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, worked out once per request by authOf (declared up front: see decorateAuth). */
    portcullisAuth: Promise<RequestAuth | null> | null;
  }
}

/** Declares the per-request slot authOf fills, so every request object keeps one shape. */
export function decorateAuth(app: FastifyInstance): void {
  app.decorateRequest('portcullisAuth', null);
}

/** The session key the request carries, from the Authorization header first, else the cookie. */
export function sessionKeyOf(request: FastifyRequest, cookieName: string): { key: string; via: 'cookie' | 'header' } | null {
  return sessionKeyFrom(request.headers.authorization, request.cookies[cookieName]);
}

/** Resolves the caller once per request, however many handlers ask. */
export function authOf(portcullis: Portcullis, request: FastifyRequest): Promise<RequestAuth | null> {
  request.portcullisAuth ??= resolveAuth(portcullis, request.headers.authorization, request.cookies[portcullis.config.sessionCookieName], request.method);
  return request.portcullisAuth;
}

/**
 * The caller when the auth cache already knows it, synchronously (see cachedAuth); undefined means
 * ask authOf. For a route that answers an authenticated read without waiting on anything.
 */
export function knownAuthOf(portcullis: Portcullis, request: FastifyRequest): RequestAuth | undefined {
  return cachedAuth(portcullis, request.headers.authorization, request.cookies[portcullis.config.sessionCookieName], request.method);
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

export function requestInfo(request: FastifyRequest): ClientInfo {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua : null };
}
