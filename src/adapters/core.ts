import { logIn, type LoginPause } from '../flows/login.js';
import type { Portcullis, SessionUser } from '../portcullis.js';
import type { User, PublicUser } from '../users/types.js';
import { toPublicUser } from '../users/types.js';
import { ApiError } from '../errors.js';
import { RequestSession } from '../sessions/request-session.js';
import type { Credentials } from '../auth/backends.js';

/**
 * What every framework binding shares: where a request's credential is, how it becomes a user, and
 * the guards. The adapters only translate their framework's request into `RequestFacts` and an
 * ApiError into their framework's answer; none of them validates a session itself.
 */

export type RequestAuth =
  /** A session key, from the cookie or `Authorization: Session <key>` from a non-browser client. */
  | (SessionUser & { via: 'cookie' | 'header' })
  /** A bearer access token: a user, but no session to change or list. */
  | { user: User; session: null; via: 'bearer' };

/** The session key a request carries: the Authorization header first, else the cookie. */
export function sessionKeyFrom(authorization: string | undefined, cookieValue: string | undefined): { key: string; via: 'cookie' | 'header' } | null {
  if (authorization && authorization.startsWith('Session ')) return { key: authorization.slice(8).trim(), via: 'header' };
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
  const token = bearerToken(authorization);
  if (token !== undefined) {
    const user = await portcullis.getUserFromAccessToken(token);
    return user ? { user, session: null, via: 'bearer' } : null;
  }
  const found = sessionKeyFrom(authorization, cookieValue);
  if (!found) return null;
  const su = await portcullis.getUser(found.key);
  return su ? { user: su.user, session: su.session, via: found.via } : null;
}

/** One cookie out of a Cookie header; frameworks without a cookie parser (Express, fetch) need this. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}

/** The parts of an HTTP request the core looks at, whatever framework delivered it. */
/** What `RequestContext.login` answers: the user, or why not (wrong credentials, or a login step to take). */
export type LoginOutcome =
  | { ok: true; user: PublicUser }
  | { ok: false; reason: 'invalid_credentials' }
  | { ok: false; reason: 'step_required'; step: string; detail?: LoginPause['detail'] };

export interface RequestFacts {
  method: string;
  /** The origin the request was addressed to (`http://localhost:3000`), for the CSRF origin check. */
  ownOrigin: string;
  authorization?: string;
  cookie?: string;
  origin?: string;
  secFetchSite?: string;
  /** The client's address as the framework knows it (its proxy settings applied): the throttle counts it. */
  ip?: string;
  userAgent?: string;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Contract section 6 for the application's own routes: an unsafe request riding on the session cookie
 * must come from the app's own origin or a trusted one. Header-authenticated requests carry no ambient
 * credential and pass.
 */
export function csrfRefused(facts: RequestFacts, sessionCookie: string | undefined, trustedOrigins: readonly string[]): boolean {
  if (!UNSAFE.has(facts.method.toUpperCase()) || sessionCookie === undefined) return false;
  if (facts.authorization?.startsWith('Bearer ') || facts.authorization?.startsWith('Session ')) return false;
  if (facts.origin !== undefined) return facts.origin !== facts.ownOrigin && !trustedOrigins.includes(facts.origin);
  return facts.secFetchSite === 'cross-site';
}

/**
 * Everything portcullis knows about one request, worked out lazily and at most once however many
 * handlers and guards ask. It is the one object an adapter hangs on its framework's request, so that
 * later per-request state (an application session) has a place to grow.
 */
export class RequestContext {
  private pending: Promise<RequestAuth | null> | undefined;
  private sessionPending: Promise<RequestSession> | undefined;
  private readonly sessionCookie: string | undefined;
  /** The request's method, upper-cased once: it decides whether the auth cache may answer. */
  private readonly method: string;

  constructor(
    readonly portcullis: Portcullis,
    readonly facts: RequestFacts,
  ) {
    this.sessionCookie = readCookie(facts.cookie, portcullis.config.sessionCookieName);
    this.method = facts.method.toUpperCase();
  }

  /** The caller's credential and session, or null for an anonymous request. */
  auth(): Promise<RequestAuth | null> {
    this.pending ??= resolveAuth(this.portcullis, this.facts.authorization, this.sessionCookie, this.method);
    return this.pending;
  }

  /** The full user record (with its password hash: keep it on the server), or null. */
  async user(): Promise<User | null> {
    return (await this.auth())?.user ?? null;
  }

  /** The user as the API shows it: safe to send back in a response. */
  async publicUser(): Promise<PublicUser | null> {
    const user = await this.user();
    return user ? toPublicUser(user) : null;
  }

  /** Throws 401 `not_authenticated` for an anonymous request. */
  async requireUser(): Promise<User> {
    const user = await this.user();
    if (!user) throw new ApiError('not_authenticated');
    return user;
  }

  async hasPerm(perm: string): Promise<boolean> {
    const user = await this.user();
    return user ? this.portcullis.permissions.hasPerm(user, perm) : false;
  }

  /** Throws 401 for nobody, 403 `permission_denied` for a user without `perm` ("app_label.codename"). */
  async requirePerm(perm: string): Promise<User> {
    const user = await this.requireUser();
    if (!(await this.portcullis.permissions.hasPerm(user, perm))) throw new ApiError('permission_denied');
    return user;
  }

  /**
   * The application session (Django's request.session): the logged-in session when there is one,
   * else the visitor's anonymous one, else an empty one that exists only once written to.
   */
  session(): Promise<RequestSession> {
    this.sessionPending ??= (async () => {
      const { sessions, config } = this.portcullis;
      const options = { maxBytes: config.sessionMaxBytes, saveEveryRequest: config.sessionSaveEveryRequest };
      const found = sessionKeyFrom(this.facts.authorization, this.sessionCookie);
      const auth = await this.auth();
      // A safe request's auth may come from the cache, whose copy of the data can be behind another
      // instance's writes: the application's session data is always read from the store.
      if (auth && auth.via !== 'bearer' && found && !isSafeMethod(this.method)) {
        return new RequestSession(sessions, auth.session, options, found.key);
      }
      return RequestSession.load(sessions, found?.key, options);
    })();
    return this.sessionPending;
  }

  /**
   * Logs a user in from inside the application, by the same login as portcullis's own API
   * (src/flows/login.ts): the guessing limits (429 `throttled` past them, thrown), the login steps,
   * then a new session key that keeps the visitor's session data (a cart, a language) unless that
   * session belonged to someone else. `ip` defaults to the request's as the framework sees it.
   * The user comes back as the API shows it (no password hash).
   */
  async login(credentials: Credentials, options: { remember?: boolean; ip?: string | null; userAgent?: string | null } = {}): Promise<LoginOutcome> {
    const client = { ip: options.ip ?? this.facts.ip ?? 'unknown', userAgent: options.userAgent ?? this.facts.userAgent ?? null };
    const session = await this.session();
    const result = await logIn(this.portcullis, credentials, client, { remember: options.remember, previous: session.current });
    if (result.outcome === 'refused') return { ok: false, reason: 'invalid_credentials' };
    if (result.outcome === 'step_required') {
      session.replace(result.pending);
      this.pending = Promise.resolve(null);
      return { ok: false, reason: 'step_required', step: result.pause.step, detail: result.pause.detail };
    }
    session.replace(result.session);
    this.pending = Promise.resolve({ user: result.user, session: result.session.record, via: 'cookie' });
    return { ok: true, user: toPublicUser(result.user) };
  }

  /** Ends the session and everything in it (Django's logout flushes the data too). */
  async logout(): Promise<void> {
    const session = await this.session();
    await this.portcullis.logout(session.current, (await this.auth())?.user ?? null);
    session.replace(null);
    this.pending = Promise.resolve(null);
  }

  /**
   * Saves what the request changed in its session and says which headers the answer needs: a
   * Set-Cookie when the session was created, changed or ended, and `Vary: Cookie` when the answer
   * depended on the session.
   */
  async commitSession(): Promise<{ setCookie: string | null; varyCookie: boolean }> {
    if (!this.sessionPending) return { setCookie: null, varyCookie: false };
    const session = await this.sessionPending;
    const instruction = await session.commit();
    const { config } = this.portcullis;
    const secure = config.secureCookies || this.facts.ownOrigin.startsWith('https:');
    const cookie = instruction
      ? serializeCookie(config.sessionCookieName, instruction.action === 'set' ? instruction.key : '', {
          maxAge: instruction.action === 'set' ? instruction.maxAge : 0,
          sameSite: config.sameSite,
          secure,
        })
      : null;
    return { setCookie: cookie, varyCookie: session.accessed };
  }

  /** Throws 403 `csrf_failed` when an unsafe cookie-authenticated request comes from a foreign origin. */
  checkCsrf(): void {
    if (csrfRefused(this.facts, this.sessionCookie, this.portcullis.config.trustedOrigins)) throw new ApiError('csrf_failed');
  }
}

/** A Set-Cookie value for the session cookie, with the contract's attributes. */
export function serializeCookie(name: string, value: string, options: { maxAge: number | null; sameSite: string; secure: boolean }): string {
  const parts = [`${name}=${encodeURIComponent(value)}`, 'Path=/', 'HttpOnly', `SameSite=${options.sameSite}`];
  if (options.maxAge !== null) {
    parts.push(`Max-Age=${options.maxAge}`);
    if (options.maxAge === 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  }
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}

/** Options every adapter takes. */
export interface AdapterOptions {
  /** Refuse cross-origin unsafe requests that ride on the session cookie (default true). */
  csrf?: boolean;
  /**
   * Fetch adapter only: the client's address for a Request, which the standard Request does not
   * carry (with @hono/node-server, `getConnInfo(c).remote.address`). Without it every client of
   * `login()` is counted as one, so give it whenever the app logs users in.
   */
  clientIp?: (request: Request) => string | undefined;
}
