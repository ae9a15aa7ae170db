import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PortcullisConfig } from '../config.js';

export interface CookiePolicy {
  name: string;
  sameSite: 'lax' | 'strict' | 'none';
  secure(request: FastifyRequest): boolean;
}

export function cookiePolicy(config: PortcullisConfig): CookiePolicy {
  return {
    name: config.sessionCookieName,
    sameSite: config.sameSite.toLowerCase() as CookiePolicy['sameSite'],
    // Secure whenever the browser reached us over HTTPS, or when the deployment says it always does.
    secure: (request) => config.secureCookies || request.protocol === 'https',
  };
}

/** The session cookie carries only the random key; persistent for `maxAgeSeconds`, else a browser-session cookie. */
export function setSessionCookie(reply: FastifyReply, policy: CookiePolicy, key: string, maxAgeSeconds: number | null): void {
  reply.setCookie(policy.name, key, {
    httpOnly: true,
    path: '/',
    sameSite: policy.sameSite,
    secure: policy.secure(reply.request),
    ...(maxAgeSeconds === null ? {} : { maxAge: maxAgeSeconds }),
  });
}

export function clearSessionCookie(reply: FastifyReply, policy: CookiePolicy): void {
  reply.setCookie(policy.name, '', {
    httpOnly: true,
    path: '/',
    sameSite: policy.sameSite,
    secure: policy.secure(reply.request),
    maxAge: 0,
    expires: new Date(0),
  });
}

const CSRF_COOKIE_AGE = 365 * 24 * 3600;

export function setCsrfCookie(reply: FastifyReply, config: PortcullisConfig, token: string): void {
  reply.setCookie(config.csrfCookieName, token, {
    httpOnly: false,
    path: '/',
    sameSite: 'lax',
    secure: config.secureCookies || reply.request.protocol === 'https',
    maxAge: CSRF_COOKIE_AGE,
  });
}
