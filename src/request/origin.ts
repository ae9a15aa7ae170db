/**
 * The browser-origin rules of contract section 6, for every door: the CSRF origin check and CORS.
 * Framework-free: each door hands over the few request facts they look at.
 */

export interface OriginFacts {
  method: string;
  /** The origin the request was addressed to, as the browser spells it (`http://localhost:8000`). */
  ownOrigin: string;
  authorization?: string;
  origin?: string;
  secFetchSite?: string;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * A request whose credential is an `Authorization` header (Bearer or Session): a session cookie the
 * browser may also send is then never read (see sessionKeyFrom), so the request rides on no ambient
 * credential, and a cross-site page cannot set that header without a CORS preflight we refuse.
 */
export function authorizedByHeader(authorization: string | undefined): boolean {
  return authorization !== undefined && (authorization.startsWith('Bearer ') || authorization.startsWith('Session '));
}

/**
 * Contract section 6: an unsafe request that carries the session cookie — and every login or
 * registration (`always`), cookie or not — must come from our own origin or a trusted one; without an
 * `Origin`, `Sec-Fetch-Site: cross-site` is refused. Requests authorized by an Authorization header
 * are exempt. True when the request must be refused with 403 `csrf_failed`.
 */
export function csrfRefused(facts: OriginFacts, hasSessionCookie: boolean, trustedOrigins: readonly string[], always = false): boolean {
  if (!UNSAFE.has(facts.method.toUpperCase())) return false;
  if (!always && !hasSessionCookie) return false;
  if (authorizedByHeader(facts.authorization)) return false;
  if (facts.origin !== undefined) return facts.origin !== facts.ownOrigin && !trustedOrigins.includes(facts.origin);
  return facts.secFetchSite === 'cross-site';
}

const ALLOW_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
const ALLOW_HEADERS = 'Content-Type, X-CSRFToken, Authorization, Accept-Language';
/** Seconds a browser may reuse a preflight answer. */
const MAX_AGE = '600';

export interface CorsAnswer {
  /** Headers to add to the answer (always `Vary: Origin`). */
  readonly headers: Readonly<Record<string, string>>;
  /** A preflight from a trusted origin: answer 204 with these headers, before anything else runs. */
  readonly preflight: boolean;
}

const NO_CORS: CorsAnswer = Object.freeze({ headers: Object.freeze({ vary: 'Origin' }), preflight: false });

/**
 * Contract section 6, CORS with credentials for trusted origins: an origin in the list gets
 * `Access-Control-Allow-Origin: <that origin>` and `Access-Control-Allow-Credentials: true`; any other
 * origin gets no CORS header at all. Every answer varies on Origin, so a shared cache never hands one
 * origin's answer to another.
 */
export function corsAnswer(
  method: string,
  origin: string | undefined,
  preflightMethod: string | undefined,
  trusted: ReadonlySet<string>,
  exposedHeaders: string,
): CorsAnswer {
  // Most requests (same-origin, or from no browser at all): one shared answer, nothing allocated.
  if (origin === undefined || !trusted.has(origin)) return NO_CORS;
  const headers: Record<string, string> = { vary: 'Origin' };
  headers['access-control-allow-origin'] = origin;
  headers['access-control-allow-credentials'] = 'true';
  if (method === 'OPTIONS' && preflightMethod !== undefined) {
    headers['access-control-allow-methods'] = ALLOW_METHODS;
    headers['access-control-allow-headers'] = ALLOW_HEADERS;
    headers['access-control-max-age'] = MAX_AGE;
    return { headers, preflight: true };
  }
  headers['access-control-expose-headers'] = exposedHeaders;
  return { headers, preflight: false };
}
