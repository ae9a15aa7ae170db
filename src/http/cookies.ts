import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PortcullisConfig } from '../config.js';
import { clearedSessionCookie, csrfCookie, sessionCookie } from '../request/cookies.js';

/**
 * The server's cookies, written by the same functions as the adapters' (src/request/cookies.ts);
 * this file only hands them to Fastify.
 */

export interface CookiePolicy {
  config: PortcullisConfig;
}

export function cookiePolicy(config: PortcullisConfig): CookiePolicy {
  return { config };
}

const overHttps = (request: FastifyRequest) => request.protocol === 'https';

/** Adds one Set-Cookie line to the answer, beside any already there. */
export function appendSetCookie(reply: FastifyReply, line: string): void {
  const existing = reply.getHeader('set-cookie');
  reply.header('set-cookie', [...(existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)]), line]);
}

/** The session cookie carries only the random key; persistent for `maxAgeSeconds`, else a browser-session cookie. */
export function setSessionCookie(reply: FastifyReply, policy: CookiePolicy, key: string, maxAgeSeconds: number | null): void {
  appendSetCookie(reply, sessionCookie(policy.config, key, maxAgeSeconds, overHttps(reply.request)));
}

export function clearSessionCookie(reply: FastifyReply, policy: CookiePolicy): void {
  appendSetCookie(reply, clearedSessionCookie(policy.config, overHttps(reply.request)));
}

export function setCsrfCookie(reply: FastifyReply, config: PortcullisConfig, token: string): void {
  appendSetCookie(reply, csrfCookie(config, token, overHttps(reply.request)));
}
