import { CookieJar } from './cookie-jar.js';
import { errorFromResponse, PortcullisError } from './errors.js';
import type {
  LoginInput,
  PasswordChangeInput,
  PasswordResetConfirmInput,
  RegisterInput,
  SessionInfo,
  TokenInput,
  TokenPair,
  User,
} from './types.js';

export { PortcullisError } from './errors.js';
export type { ClientErrorCode } from './errors.js';
export { CookieJar } from './cookie-jar.js';
export type * from './types.js';

export interface PortcullisClientOptions {
  /** Where portcullis is served, e.g. `http://localhost:8000`; '' (the default) for the page's own origin. */
  baseUrl?: string;
  /** A fetch of your own (tests, polyfills); the global fetch by default. */
  fetch?: typeof fetch;
  /**
   * Keep cookies in the client itself, for Node and other places without a browser's cookie store
   * (default false: in a browser the browser keeps them).
   */
  cookieJar?: boolean | CookieJar;
  /** Sent with every request, e.g. `{"Accept-Language": "zh-CN"}`. */
  headers?: Record<string, string>;
  /** Name of the CSRF cookie, when the server renamed it. */
  csrfCookieName?: string;
  /**
   * Called with the server's `Portcullis-Warning` header: outside production the server explains
   * there why a browser will lose the session cookie. Default: `console.warn`.
   */
  onWarning?: (warning: string) => void;
}

type Method = 'GET' | 'POST' | 'DELETE';

/**
 * A typed client for portcullis's account, session and token API (contract sections 2 and 3). In a
 * browser it sends `credentials: "include"`, so the session cookie travels cross-origin too; it reads
 * the `csrftoken` cookie and sends it as `X-CSRFToken`. Failures are thrown as `PortcullisError`.
 */
export class PortcullisClient {
  readonly baseUrl: string;
  /** The jar in use outside a browser, or null when the browser keeps the cookies. */
  readonly jar: CookieJar | null;
  /** Sent as the Authorization header when set: `Bearer <access token>` or `Session <key>`. */
  authorization: string | null = null;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: Record<string, string>;
  private readonly csrfCookieName: string;
  private readonly onWarning: (warning: string) => void;

  constructor(options: PortcullisClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? '').replace(/\/$/, '');
    const f = options.fetch ?? globalThis.fetch;
    this.fetchImpl = (input, init) => f(input, init);
    this.jar = options.cookieJar === true ? new CookieJar() : options.cookieJar || null;
    this.headers = options.headers ?? {};
    this.csrfCookieName = options.csrfCookieName ?? 'csrftoken';
    this.onWarning = options.onWarning ?? ((warning) => console.warn(`portcullis: ${warning}`));
  }

  /** POST /api/auth/register: creates the account (it logs in only when the server is set up to). */
  async register(input: RegisterInput): Promise<User> {
    return (await this.call<{ user: User }>('POST', '/api/auth/register', input)).user;
  }

  /** POST /api/auth/login: `username` may be the username, the email or the phone number. */
  async login(input: LoginInput): Promise<User> {
    return (await this.call<{ user: User }>('POST', '/api/auth/login', input)).user;
  }

  async logout(): Promise<void> {
    await this.call('POST', '/api/auth/logout');
  }

  /** GET /api/auth/me: throws `not_authenticated` when logged out. */
  async me(): Promise<User> {
    return (await this.call<{ user: User }>('GET', '/api/auth/me')).user;
  }

  /** The logged-in user, or null instead of a `not_authenticated` error. */
  async currentUser(): Promise<User | null> {
    try {
      return await this.me();
    } catch (err) {
      if (err instanceof PortcullisError && err.code === 'not_authenticated') return null;
      throw err;
    }
  }

  /** This session goes on under a new key; every other session of the user ends. */
  async changePassword(input: PasswordChangeInput): Promise<User> {
    return (await this.call<{ user: User }>('POST', '/api/auth/password', input)).user;
  }

  /** Always succeeds (202), whether or not the email belongs to anyone. */
  async passwordReset(email: string): Promise<void> {
    await this.call('POST', '/api/auth/password-reset', { email });
  }

  async passwordResetConfirm(input: PasswordResetConfirmInput): Promise<void> {
    await this.call('POST', '/api/auth/password-reset/confirm', input);
  }

  async sessions(): Promise<SessionInfo[]> {
    return (await this.call<{ sessions: SessionInfo[] }>('GET', '/api/auth/sessions')).sessions;
  }

  async revokeSession(id: string): Promise<void> {
    await this.call('DELETE', `/api/auth/sessions/${encodeURIComponent(id)}`);
  }

  /** Ends every session of the user but this one; returns how many ended. */
  async revokeOtherSessions(): Promise<number> {
    return (await this.call<{ revoked: number }>('POST', '/api/auth/sessions/revoke-others')).revoked;
  }

  /** GET /api/auth/csrf: the token, also set as the `csrftoken` cookie. */
  async csrf(): Promise<string> {
    return (await this.call<{ csrf_token: string }>('GET', '/api/auth/csrf')).csrf_token;
  }

  /** POST /api/auth/token: an access and refresh token pair, for services and scripts. */
  async token(input: TokenInput): Promise<TokenPair> {
    return this.call<TokenPair>('POST', '/api/auth/token', input);
  }

  /** The old refresh token is spent; presenting it again revokes the whole family. */
  async refreshToken(refreshToken: string): Promise<TokenPair> {
    return this.call<TokenPair>('POST', '/api/auth/token/refresh', { refresh_token: refreshToken });
  }

  async revokeToken(refreshToken: string): Promise<void> {
    await this.call('POST', '/api/auth/token/revoke', { refresh_token: refreshToken });
  }

  /** The `csrftoken` cookie, from the jar or the page's cookies. */
  csrfToken(): string | undefined {
    if (this.jar) return this.jar.get(this.csrfCookieName);
    const doc = (globalThis as { document?: { cookie?: string } }).document;
    for (const part of doc?.cookie?.split(';') ?? []) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === this.csrfCookieName) return decodeURIComponent(part.slice(eq + 1).trim());
    }
    return undefined;
  }

  /** One request: JSON in, JSON out, a PortcullisError for anything but 2xx. */
  async call<T = unknown>(method: Method, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...this.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.authorization) headers.authorization = this.authorization;
    const csrf = method === 'GET' ? undefined : this.csrfToken();
    if (csrf) headers['x-csrftoken'] = csrf;
    const cookie = this.jar?.header();
    if (cookie) headers.cookie = cookie;

    let res: Response;
    try {
      res = await this.fetchImpl(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'include',
      });
    } catch (err) {
      throw new PortcullisError('network_error', err instanceof Error ? err.message : String(err), 0);
    }
    this.jar?.store(res);
    const warning = res.headers.get('portcullis-warning');
    if (warning) this.onWarning(warning);
    if (!res.ok) throw await errorFromResponse(res);
    if (res.status === 204 || res.status === 202) {
      await res.body?.cancel();
      return undefined as T;
    }
    try {
      return (await res.json()) as T;
    } catch {
      throw new PortcullisError('bad_response', `HTTP ${res.status} with a body that is not JSON`, res.status);
    }
  }
}
