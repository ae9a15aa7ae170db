import type { FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * 'api': a route outside /api/ whose answers take the API's fixed security headers (set before
     * the route runs) instead of the pages' (set from onSend), e.g. /metrics, whose 404 must be the
     * very 404 of any unknown path.
     */
    securityHeaders?: 'api';
  }
}

/**
 * The Content-Security-Policy of portcullis's own HTML pages: nothing from elsewhere, no inline
 * script, no framing, forms post only back here. A page that needs an inline script passes a nonce.
 */
export function pageCsp(nonce?: string): string {
  const script = nonce ? `'self' 'nonce-${nonce}'` : "'self'";
  return [
    "default-src 'self'",
    `script-src ${script}`,
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const API_CSP = "default-src 'none'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

/** For a page handler that wants its own CSP (with a nonce) instead of the default one. */
export function setPageSecurityHeaders(reply: FastifyReply, nonce?: string): void {
  reply.header('Content-Security-Policy', pageCsp(nonce));
}

const HSTS = 'max-age=31536000; includeSubDomains';
const EVERY_ANSWER = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'same-origin', 'x-frame-options': 'DENY' };
const EVERY_ANSWER_HSTS = { ...EVERY_ANSWER, 'strict-transport-security': HSTS };
/** An /api/ answer is always JSON from a route that sets neither a CSP nor caching of its own. */
const API_ANSWER = { ...EVERY_ANSWER, 'content-security-policy': API_CSP, 'cache-control': 'no-store' };
const API_ANSWER_HSTS = { ...API_ANSWER, 'strict-transport-security': HSTS };

/**
 * The headers of every answer under /api/ (and of a 404 anywhere, which is a JSON error too): one
 * precomputed set, set by the server's request hook before the route runs, so these answers need no
 * onSend hook at all. An /api/ route must then set neither a CSP nor caching of its own, since
 * whatever it set would win (test/security.test.ts checks the API's answers).
 */
export function apiSecurityHeaders(options: { hsts: boolean }): Readonly<Record<string, string>> {
  return options.hsts ? API_ANSWER_HSTS : API_ANSWER;
}

/**
 * Headers on every answer (ASVS V3.4): no MIME sniffing, no referrer outside the origin, no
 * framing; HTML gets a CSP unless its route set one; anything that may carry a session, a token or
 * a user is never stored by a cache. Run from onSend on the routes outside /api/ (server.ts); the
 * API's answers got apiSecurityHeaders up front.
 */
export function applySecurityHeaders(request: FastifyRequest, reply: FastifyReply, options: { hsts: boolean }): void {
  if (request.url.startsWith('/api/')) {
    reply.headers(apiSecurityHeaders(options));
    return;
  }
  reply.headers(options.hsts ? EVERY_ANSWER_HSTS : EVERY_ANSWER);
  const type = String(reply.getHeader('content-type') ?? '');
  if (type.startsWith('text/html')) {
    if (!reply.hasHeader('content-security-policy')) reply.header('Content-Security-Policy', pageCsp());
    reply.header('Cross-Origin-Opener-Policy', 'same-origin');
  } else if (!reply.hasHeader('content-security-policy')) {
    // ASVS 3.4.3/3.4.6: every answer has a CSP; JSON never needs to load or be framed by anything.
    reply.header('Content-Security-Policy', API_CSP);
  }
  const setsCookie = reply.hasHeader('set-cookie');
  const carriesCredential = request.headers.authorization !== undefined || request.headers.cookie !== undefined;
  if (setsCookie || (carriesCredential && !reply.hasHeader('cache-control'))) {
    reply.header('Cache-Control', 'no-store');
  }
}
