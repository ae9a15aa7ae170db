import type { FastifyReply, FastifyRequest } from 'fastify';

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

/**
 * Headers on every answer (ASVS V3.4): no MIME sniffing, no referrer outside the origin, no
 * framing; HTML gets a CSP unless its route set one; anything that may carry a session, a token or
 * a user is never stored by a cache.
 */
export function applySecurityHeaders(request: FastifyRequest, reply: FastifyReply, options: { hsts: boolean }): void {
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('Referrer-Policy', 'same-origin');
  reply.header('X-Frame-Options', 'DENY');
  if (options.hsts) reply.header('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
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
  if (request.url.startsWith('/api/') || setsCookie || (carriesCredential && !reply.hasHeader('cache-control'))) {
    reply.header('Cache-Control', 'no-store');
  }
}
