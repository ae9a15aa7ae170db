import type { FastifyInstance } from 'fastify';
import { parseCookies } from '../request/cookies.js';

/**
 * `request.cookies` for the server's routes, parsed by the same reader as the adapters'
 * (src/request/cookies.ts). Parsed on first use: most requests that carry cookies read one or two,
 * and a request without any never pays for it.
 */

type Cookies = { [cookieName: string]: string | undefined };

declare module 'fastify' {
  interface FastifyRequest {
    cookies: Cookies;
    /** The parsed Cookie header once something asked for it (declared up front: see registerCookies). */
    portcullisCookies: Cookies | null;
  }
}

export function registerCookies(app: FastifyInstance): void {
  app.decorateRequest('portcullisCookies', null);
  app.decorateRequest('cookies', {
    getter() {
      return (this.portcullisCookies ??= parseCookies(this.headers.cookie));
    },
  });
}
