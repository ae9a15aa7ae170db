import { logIn, type LoginPause } from '../flows/login.js';
import type { Portcullis } from '../portcullis.js';
import { toPublicUser, type PublicUser, type User } from '../users/types.js';
import { ApiError } from '../errors.js';
import { errorBody, errorHeaders } from '../http/errors.js';
import { throttled } from '../throttle/throttle.js';
import { RequestSession } from '../sessions/request-session.js';
import type { Credentials } from '../auth/backends.js';
import { cachedAuth, isSafeMethod, resolveAuth, sessionKeyFrom, type RequestAuth } from '../request/credentials.js';
import { clearedSessionCookie, readCookie, sessionCookie } from '../request/cookies.js';
import { csrfRefused, type OriginFacts } from '../request/origin.js';

/**
 * What every framework binding shares: the request's view of portcullis (credential, user, session,
 * login, guards), over the same request layer as portcullis's own server (src/request/). The
 * adapters only translate their framework's request into `RequestFacts` and an ApiError into their
 * framework's answer; none of them validates a session or writes a cookie itself.
 */

export type { RequestAuth } from '../request/credentials.js';
export { cachedAuth, isSafeMethod, resolveAuth, sessionKeyFrom } from '../request/credentials.js';
export { readCookie } from '../request/cookies.js';

/** The parts of an HTTP request the core looks at, whatever framework delivered it. */
/**
 * What `RequestContext.login` answers: the user as the API shows it, or why not — wrong credentials
 * (unknown, inactive and wrong look alike), too many attempts (`retryAfter` seconds), a login step
 * still to take, a foreign origin, or input that could never log in (missing, over-long). Each
 * reason is the contract's error code, so `res.status(...).json({ error: { code: reason } })` is
 * already the contract's answer. Only a store that is down still throws (503 `service_unavailable`).
 */
export type LoginOutcome =
  | { ok: true; user: PublicUser }
  | { ok: false; reason: 'invalid_credentials' | 'missing_credentials' | 'validation_error' | 'csrf_failed' }
  | { ok: false; reason: 'throttled'; retryAfter: number }
  | { ok: false; reason: 'step_required'; step: string; detail?: LoginPause['detail'] };

/**
 * A login outcome as the contract answers it (the API's own /login): 200 `{user}`, 202 `{step}`, or
 * the error shape with its status and headers (Retry-After on 429), in the caller's language.
 */
export function loginResponse(outcome: LoginOutcome, acceptLanguage?: string): { status: number; headers: Record<string, string>; body: unknown } {
  if (outcome.ok) return { status: 200, headers: {}, body: { user: outcome.user } };
  if (outcome.reason === 'step_required') return { status: 202, headers: {}, body: { step: outcome.step, detail: outcome.detail } };
  const error = outcome.reason === 'throttled' ? throttled(outcome.retryAfter * 1000) : new ApiError(outcome.reason);
  return { status: error.status, headers: errorHeaders(error), body: errorBody(error, acceptLanguage) };
}

const LOGIN_REFUSALS = new Set(['invalid_credentials', 'missing_credentials', 'validation_error', 'csrf_failed']);

/** A refused login's ApiError as a LoginOutcome; anything else is not a refusal and is thrown on. */
function refusal(err: unknown): LoginOutcome | null {
  if (!(err instanceof ApiError)) return null;
  if (err.code === 'throttled') return { ok: false, reason: 'throttled', retryAfter: Number(err.headers?.['Retry-After'] ?? 1) };
  if (LOGIN_REFUSALS.has(err.code)) return { ok: false, reason: err.code as 'invalid_credentials' };
  return null;
}

export interface RequestFacts extends OriginFacts {
  cookie?: string;
  /** The client's address as the framework knows it (its proxy settings applied): the throttle counts it. */
  ip?: string;
  userAgent?: string;
}

/**
 * Everything portcullis knows about one request, worked out lazily and at most once however many
 * handlers and guards ask. It is the one object an adapter hangs on its framework's request, so that
 * later per-request state (an application session) has a place to grow.
 */
export class RequestContext {
  private pending: Promise<RequestAuth | null> | undefined;
  /** The auth once known without waiting: undefined until then. */
  private settled: RequestAuth | null | undefined;
  private sessionPending: Promise<RequestSession> | undefined;
  /** The session once built: commitSession can then tell at once that there is nothing to save. */
  private built: RequestSession | undefined;
  /** The API's view of the user, converted once however many guards and handlers ask. */
  private shown: { user: User; view: PublicUser } | undefined;
  private readonly sessionCookie: string | undefined;
  /** The request's method, upper-cased once: it decides whether the auth cache may answer. */
  private readonly method: string;

  constructor(
    readonly portcullis: Portcullis,
    readonly facts: RequestFacts,
    /** The adapter's `csrf` option: whether the origin rule of contract section 6 applies. */
    private readonly csrf = true,
  ) {
    this.sessionCookie = readCookie(facts.cookie, portcullis.config.sessionCookieName);
    this.method = facts.method.toUpperCase();
  }

  /** The caller's credential and session, or null for an anonymous request. */
  auth(): Promise<RequestAuth | null> {
    if (this.pending === undefined) {
      const known = this.knownAuth();
      this.pending =
        known !== undefined
          ? Promise.resolve(known)
          : resolveAuth(this.portcullis, this.facts.authorization, this.sessionCookie, this.method).then((auth) => (this.settled = auth));
    }
    return this.pending;
  }

  /**
   * The auth when it is known without asking the store, else undefined: nobody for a request with
   * no credential at all, the auth cache's answer for a safe request checked a moment ago. Most
   * requests end here, and an adapter then answers them without a single promise.
   */
  knownAuth(): RequestAuth | null | undefined {
    if (this.settled === undefined) {
      const { authorization } = this.facts;
      if (authorization === undefined && this.sessionCookie === undefined) this.settled = null;
      else this.settled = cachedAuth(this.portcullis, authorization, this.sessionCookie, this.method);
    }
    return this.settled;
  }

  /** The logged-in user as the API shows it (never the password hash), or null. */
  async user(): Promise<PublicUser | null> {
    return this.view((await this.auth())?.user ?? null);
  }

  /** user(), when it is known at once (see knownAuth); undefined when the store must be asked. */
  knownUser(): PublicUser | null | undefined {
    const auth = this.knownAuth();
    return auth === undefined ? undefined : this.view(auth?.user ?? null);
  }

  private view(user: User | null): PublicUser | null {
    if (user === null) return null;
    if (this.shown?.user !== user) this.shown = { user, view: toPublicUser(user) };
    return this.shown.view;
  }

  /** The same as user(); kept for code written against older versions. */
  publicUser(): Promise<PublicUser | null> {
    return this.user();
  }

  /** The logged-in user, or a thrown 401 `not_authenticated` for an anonymous request. */
  async requireUser(): Promise<PublicUser> {
    const user = await this.user();
    if (!user) throw new ApiError('not_authenticated');
    return user;
  }

  async hasPerm(perm: string): Promise<boolean> {
    const user = (await this.auth())?.user;
    return user ? this.portcullis.permissions.hasPerm(user, perm) : false;
  }

  /** Throws 401 for nobody, 403 `permission_denied` for a user without `perm` ("app_label.codename"). */
  async requirePerm(perm: string): Promise<PublicUser> {
    const user = await this.requireUser();
    if (!(await this.hasPerm(perm))) throw new ApiError('permission_denied');
    return user;
  }

  /**
   * The application session (Django's request.session): the logged-in session when there is one,
   * else the visitor's anonymous one, else an empty one that exists only once written to.
   */
  session(): Promise<RequestSession> {
    if (this.sessionPending === undefined) {
      const known = this.knownSession();
      this.sessionPending = known !== undefined ? Promise.resolve(known) : this.loadSession();
    }
    return this.sessionPending;
  }

  /**
   * session(), when it can be built at once: a request with no session key, or a logged-in session
   * whose data came with its user (see sessionFromAuth); undefined when the store must be asked.
   */
  knownSession(): RequestSession | undefined {
    if (this.built !== undefined) return this.built;
    const found = sessionKeyFrom(this.facts.authorization, this.sessionCookie);
    if (found === null) return (this.built = new RequestSession(this.portcullis.sessions, null, this.sessionOptions()));
    const auth = this.knownAuth();
    return auth === undefined ? undefined : this.sessionFromAuth(auth, found.key);
  }

  private async loadSession(): Promise<RequestSession> {
    const found = sessionKeyFrom(this.facts.authorization, this.sessionCookie);
    const auth = await this.auth();
    return this.sessionFromAuth(auth, found?.key) ?? (this.built = await RequestSession.load(this.portcullis.sessions, found?.key, this.sessionOptions()));
  }

  /**
   * A logged-in session's data comes with its user: from the store, or on a safe request from the
   * auth cache, when every write of session data reaches that cache at once (see
   * Portcullis.sessionDataCached). Otherwise (anonymous, a bearer token, data that must be read
   * again) undefined: the session is loaded by its key.
   */
  private sessionFromAuth(auth: RequestAuth | null, key: string | undefined): RequestSession | undefined {
    if (!auth || auth.via === 'bearer' || key === undefined) return undefined;
    if (isSafeMethod(this.method) && !this.portcullis.sessionDataCached) return undefined;
    return (this.built = new RequestSession(this.portcullis.sessions, auth.session, this.sessionOptions(), key));
  }

  private sessionOptions() {
    const { config } = this.portcullis;
    return { maxBytes: config.sessionMaxBytes, saveEveryRequest: config.sessionSaveEveryRequest };
  }

  /**
   * Logs a user in from inside the application, by the same login as portcullis's own API
   * (src/flows/login.ts): the guessing limits (429 `throttled` past them, thrown), the login steps,
   * then a new session key that keeps the visitor's session data (a cart, a language) unless that
   * session belonged to someone else. `ip` defaults to the request's as the framework sees it.
   * The user comes back as the API shows it (no password hash).
   */
  async login(credentials: Credentials, options: { remember?: boolean; ip?: string | null; userAgent?: string | null } = {}): Promise<LoginOutcome> {
    // A login is checked for its origin even without a session cookie (login CSRF), as on the API.
    if (this.csrf && csrfRefused(this.facts, true, this.portcullis.config.trustedOrigins, true)) return { ok: false, reason: 'csrf_failed' };
    const client = { ip: options.ip ?? this.facts.ip ?? 'unknown', userAgent: options.userAgent ?? this.facts.userAgent ?? null };
    const session = await this.session();
    let result;
    try {
      result = await logIn(this.portcullis, credentials, client, { remember: options.remember, previous: session.current });
    } catch (err) {
      const refused = refusal(err);
      if (refused) return refused;
      throw err;
    }
    if (result.outcome === 'refused') return { ok: false, reason: 'invalid_credentials' };
    if (result.outcome === 'step_required') {
      session.replace(result.pending);
      this.settle(null);
      return { ok: false, reason: 'step_required', step: result.pause.step, detail: result.pause.detail };
    }
    session.replace(result.session);
    this.settle({ user: result.user, session: result.session.record, via: 'cookie' });
    return { ok: true, user: this.view(result.user)! };
  }

  /** Ends the session and everything in it (Django's logout flushes the data too). */
  async logout(): Promise<void> {
    const session = await this.session();
    await this.portcullis.logout(session.current, (await this.auth())?.user ?? null);
    session.replace(null);
    this.settle(null);
  }

  /** Login and logout decide who the rest of the request belongs to. */
  private settle(auth: RequestAuth | null): void {
    this.settled = auth;
    this.pending = Promise.resolve(auth);
  }

  /**
   * Saves what the request changed in its session and says which headers the answer needs: a
   * Set-Cookie when the session was created, changed or ended, and `Vary: Cookie` when the answer
   * depended on the session.
   */
  async commitSession(): Promise<{ setCookie: string | null; varyCookie: boolean }> {
    const done = this.committedAtOnce();
    if (done !== undefined) return done;
    const session = this.built ?? (await this.sessionPending!);
    const instruction = await session.commit();
    if (!instruction) return { setCookie: null, varyCookie: session.accessed };
    const { config } = this.portcullis;
    const https = this.facts.ownOrigin.startsWith('https:');
    const cookie = instruction.action === 'set' ? sessionCookie(config, instruction.key, instruction.maxAge, https) : clearedSessionCookie(config, https);
    return { setCookie: cookie, varyCookie: session.accessed };
  }

  /**
   * commitSession's answer when there is nothing to save (no session asked for, or one nobody
   * changed), without a promise; undefined when the session must be saved.
   */
  committedAtOnce(): { setCookie: null; varyCookie: boolean } | undefined {
    const session = this.built;
    if (session !== undefined) return session.needsCommit ? undefined : { setCookie: null, varyCookie: session.accessed };
    return this.sessionPending === undefined ? { setCookie: null, varyCookie: false } : undefined;
  }

  /** Throws 403 `csrf_failed` when an unsafe cookie-authenticated request comes from a foreign origin. */
  checkCsrf(): void {
    if (csrfRefused(this.facts, this.sessionCookie !== undefined, this.portcullis.config.trustedOrigins)) throw new ApiError('csrf_failed');
  }
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
