import './keep-tick-shape.js';
import type { Selectable } from 'kysely';
import type { UserTable } from './db/schema.js';
import { loadConfigFile, resolveConfig, ConfigError, type PortcullisConfig, type PortcullisOptions } from './config.js';
import { connectDatabase, type DatabaseHandle } from './db/connect.js';
import { migrate } from './db/migrate.js';
import { ApiError, PermissionDenied, validationError } from './errors.js';
import { createPasswordHashers, DEFAULT_HASHERS, setDefaultPasswordHashers, type PasswordHashers } from './passwords/index.js';
import { UserManager } from './users/manager.js';
import { Permissions } from './users/permissions.js';
import type { User } from './users/types.js';
import { BUILTIN_BACKENDS, modelBackend, type AuthBackend, type BackendContext, type Credentials, type RequestInfo } from './auth/backends.js';
import { AuthEventEmitter, redactCredentials } from './auth/events.js';
import { AuthCache } from './auth/cache.js';
import type { ChangeChannel, ChangeHandlers } from './auth/change-channel.js';
import { constantTimeEqual, sessionAuthHash } from './auth/salted-hmac.js';
import type { SessionRecord } from './sessions/base.js';
import type { RedisHandle } from './redis.js';
import { createPasswordValidators, validatePassword, type PasswordValidator, type UserAttributes } from './validation/password.js';
import { Sessions, type IssuedSession } from './sessions/manager.js';
import { Tokens, type TokenPair } from './tokens/tokens.js';
import { DjangoMirroredUserManager } from './django/mode.js';
import { Throttle } from './throttle/throttle.js';
import type { LoginStep } from './flows/login.js';
import { openStorage, type Storage } from './storage.js';
import { createMailer, type Mailer } from './mail/index.js';
import { PasswordResetTokenGenerator } from './auth/password-reset.js';
import { createMetrics, type Metrics } from './metrics/index.js';

export interface AuthenticatedUser {
  user: User;
  backend: AuthBackend;
}

export interface LoginOptions extends RequestInfo {
  /** false: a browser-session cookie; true or absent: persistent for the session age. */
  remember?: boolean;
  /** The session the request arrived with, which login replaces (no fixation). */
  previous?: SessionRecord | null;
}

export interface SessionUser {
  user: User;
  session: SessionRecord;
}

export interface CredentialCheck {
  /**
   * May the answer come from the short-lived credential cache (PORTCULLIS_AUTH_CACHE_MS)? Pass true
   * only for safe requests (GET, HEAD, OPTIONS): anything that changes state checks the store.
   */
  cached?: boolean;
}

/**
 * One portcullis instance: configuration, database, hashers, users, sessions and the auth protocol
 * (authenticate → login → getUser → logout) as a handful of short methods.
 */
export class Portcullis {
  readonly events = new AuthEventEmitter();
  readonly backends: AuthBackend[];
  readonly passwordValidators: PasswordValidator[];
  /** Guessing limits on login, token, password reset and re-authentication, shared by all instances. */
  readonly throttle: Throttle;
  readonly mailer: Mailer;
  readonly passwordResetTokens: PasswordResetTokenGenerator;
  /** What backends are handed: the user manager, the hashers, the upgrade hook. */
  readonly backendContext: BackendContext;
  /** The configured login steps (src/flows/login.ts). */
  readonly loginSteps: LoginStep[];
  /** Sessions and access tokens checked a moment ago; see AuthCache for the bound on staleness. */
  private readonly sessionCache: AuthCache<SessionUser>;
  private readonly tokenCache: AuthCache<User>;
  /** How other instances' changes reach those caches at once (Redis or PostgreSQL); null: TTL only. */
  private changeChannel: ChangeChannel | null = null;
  /** The shared Redis connection when PORTCULLIS_SESSION_STORE is redis://… or redis-cluster://…. */
  readonly redis: RedisHandle | null;
  /** On SQLite: notices another process's commits to the file (the CLI, a second server). */
  private readonly probeForeignWrites: ((now: number) => void) | null;

  constructor(
    readonly config: PortcullisConfig,
    readonly database: DatabaseHandle,
    readonly hashers: PasswordHashers,
    readonly users: UserManager,
    readonly permissions: Permissions,
    readonly sessions: Sessions,
    readonly tokens: Tokens,
    /** The stores of the storage profile (src/storage.ts): the throttle's counters and the change channel come from it. */
    private readonly storage: Storage,
    /** Prometheus metrics (src/metrics/), when an operator turned them on; null costs nothing anywhere. */
    readonly metrics: Metrics | null = null,
  ) {
    this.backends = config.backends.map((b) => {
      if (typeof b !== 'string') return b;
      const found = BUILTIN_BACKENDS[b];
      if (!found) throw new ConfigError(`backends: there is no built-in authentication backend named "${b}".`);
      return found;
    });
    this.loginSteps = config.loginSteps;
    this.passwordValidators = createPasswordValidators(config.passwordValidators);
    this.redis = storage.redis;
    this.throttle = new Throttle(storage.throttle, config.secretKey, config.throttle);
    metrics?.watch({ hashers, sessions, throttle: this.throttle });
    this.mailer = createMailer(config);
    this.passwordResetTokens = new PasswordResetTokenGenerator(config.secretKey, config.passwordResetTimeout);
    this.sessionCache = new AuthCache(config.authCacheMs);
    this.tokenCache = new AuthCache(config.authCacheMs);
    // Whatever this process changes about a user or its sessions is forgotten at once, here and
    // (through the change channel, before the change's request is answered) on every other instance.
    const forget = async (userId: number | null) => {
      if (userId === null) return;
      this.forgetUser(userId);
      await this.changeChannel?.publish(userId);
    };
    users.onChange(forget);
    sessions.onChange(forget);
    this.probeForeignWrites = config.authCacheMs > 0 ? storage.changeProbe(() => this.forgetAll()) : null;
    this.backendContext = {
      users,
      hashers,
      onPasswordUpgrade: (user, oldHash, newHash) =>
        sessions.followPasswordUpgrade(user.id, this.authHash(oldHash), this.authHash(newHash)),
    };
  }

  /** Runs the configured password validators (register, change, reset); throws a validation error naming `field`. */
  validateNewPassword(field: string, password: string, user?: UserAttributes | Record<string, unknown>): void {
    const attrs = user as UserAttributes | undefined;
    const problems = validatePassword(password, attrs, this.passwordValidators);
    if (problems.length) throw validationError({ [field]: problems });
  }

  private readonly authHashes = new Map<string, string>();

  /** Django's session auth hash of a password hash, remembered: it is checked on every request. */
  authHash(passwordHash: string): string {
    let hash = this.authHashes.get(passwordHash);
    if (hash === undefined) {
      // Sharing sessions with Django means sharing its session auth hash, keyed by Django's secret.
      const secret = this.config.sessionStore === 'django' ? this.config.djangoSecretKey! : this.config.secretKey;
      hash = sessionAuthHash(passwordHash, secret);
      // Bounded: a full map is simply dropped; recomputing costs microseconds.
      if (this.authHashes.size >= 10_000) this.authHashes.clear();
      this.authHashes.set(passwordHash, hash);
    }
    return hash;
  }

  /**
   * Django's authenticate(): asks each backend that accepts these credentials in turn; the first user
   * returned wins, PermissionDenied ends the walk with no user.
   */
  async authenticate(credentials: Credentials, request?: RequestInfo): Promise<AuthenticatedUser | null> {
    for (const backend of this.backends) {
      if (backend.accepts && !backend.accepts(credentials)) continue;
      let user: User | null | undefined;
      try {
        user = await backend.authenticate(this.backendContext, credentials, request);
      } catch (err) {
        if (err instanceof PermissionDenied) break;
        throw err;
      }
      if (user) return { user, backend };
    }
    this.events.emit('user_login_failed', { credentials: redactCredentials(credentials), request });
    return null;
  }

  /** Starts a session for an authenticated user under a brand-new key; any previous session ends. */
  async login(user: User, backend: AuthBackend | string, options: LoginOptions = {}): Promise<IssuedSession> {
    const backendName = typeof backend === 'string' ? backend : backend.name;
    const persistent = options.remember !== false;
    const previous = options.previous;
    // Data of an anonymous session, or of this same user's, carries over; another user's is flushed.
    const carry = previous && (previous.userId === null || previous.userId === user.id) ? previous.data : {};
    if (previous) await this.sessions.end(previous);
    const issued = await this.sessions.create({
      userId: user.id,
      backend: backendName,
      authHash: this.authHash(user.password),
      persistent,
      ip: options.ip,
      userAgent: options.userAgent,
      data: carry,
    });
    await this.users.updateLastLogin(user);
    this.events.emit('user_logged_in', { user, request: options });
    return issued;
  }

  private forgetUser(userId: number): void {
    this.sessionCache.forgetUser(userId);
    this.tokenCache.forgetUser(userId);
  }

  private forgetAll(): void {
    this.sessionCache.clear();
    this.tokenCache.clear();
  }

  /**
   * Opens the channel on which instances sharing a store tell each other about changed users (see
   * ChangeChannel), the one the storage profile has (src/storage.ts): Redis when sessions live there,
   * else PostgreSQL when it is the database. Without one (SQLite, MySQL) the cache relies on its TTL,
   * and on SQLite on the file's change counter too. createPortcullis calls it; until the channel
   * hears, the cache answers nothing.
   */
  async openChangeChannel(): Promise<void> {
    if (this.changeChannel) return;
    const handlers: ChangeHandlers = {
      forgetUser: (userId) => this.forgetUser(userId),
      forgetAll: () => {
        this.forgetAll();
        // A rotation may have been announced while deaf too.
        this.tokens.keys.forget();
      },
      signingKeysChanged: () => this.tokens.keys.forget(),
      state: (listening, reason) => this.events.emit('change_channel', { listening, reason }),
    };
    // With this instance's cache off there is nothing to keep fresh here: it only tells the others.
    const listen = this.config.authCacheMs > 0;
    const channel = await this.storage.openChangeChannel(handlers, listen);
    this.changeChannel = channel;
    // A channel that only publishes (this cache off) has nothing to be up or down about.
    if (channel && listen && this.metrics) this.metrics.watchChangeChannel(() => channel.listening);
  }

  /**
   * A new key signs access tokens from now on, here and, through the change channel, on every running
   * instance at once; without a channel (SQLite, MySQL) the others switch within RELOAD_MS (60 s).
   * `announced` is null without a channel, false if the channel could not carry the message;
   * `channel` says what carries it.
   */
  async rotateSigningKeys(): Promise<{ kid: string; announced: boolean | null; channel: ChangeChannel['kind'] | null }> {
    const kid = await this.tokens.keys.rotate();
    const announced = this.changeChannel ? await this.changeChannel.announceSigningKeys() : null;
    return { kid, announced, channel: this.changeChannel?.kind ?? null };
  }

  /** May the auth cache answer now? Not while a change channel exists but cannot hear the others. */
  private cacheTrusted(now: number): boolean {
    if (this.probeForeignWrites !== null) this.probeForeignWrites(now);
    return this.changeChannel === null || this.changeChannel.listening;
  }

  /**
   * Whether a session's data as the auth cache holds it is as current as the store's, so that an
   * application's safe request may read it from there: every write reaches this cache at once
   * (SQLite's change counter, or the change channel that Sessions.patchData announces on), and no
   * program but portcullis writes the sessions (Django's does, side by side).
   */
  get sessionDataCached(): boolean {
    return !this.sessions.store.writtenElsewhere && (this.probeForeignWrites !== null || this.changeChannel !== null);
  }

  /**
   * What the auth cache remembers of this session key, synchronously: the answer getUser would give a
   * safe request from memory, or undefined when it would go to the store. Only for safe requests.
   */
  cachedSessionUser(sessionKey: string, now = Date.now()): SessionUser | undefined {
    const hit = this.cacheTrusted(now) ? this.sessionCache.get(sessionKey, now) : undefined;
    // An entry due for a last-seen write (or near its idle timeout) goes back to the store.
    const answer = hit !== undefined && this.sessions.isCurrent(hit.session, now) ? hit : undefined;
    if (answer !== undefined) this.metrics?.cacheLookup('session', true);
    return answer;
  }

  /** The same for a bearer access token. */
  cachedTokenUser(token: string, now = Date.now()): User | undefined {
    const answer = this.cacheTrusted(now) ? this.tokenCache.get(token, now) : undefined;
    if (answer !== undefined) this.metrics?.cacheLookup('token', true);
    return answer;
  }

  /**
   * A safe request's credential that the cache could not answer goes to the store: the metrics' miss.
   * Counted here, once, and not where the cache is asked, which a request may do twice (knownAuthOf
   * before authOf) for one trip to the store.
   */
  cacheMissed(cache: 'session' | 'token'): void {
    if (this.metrics !== null && this.config.authCacheMs > 0) this.metrics.cacheLookup(cache, false);
  }

  /** Django's get_user(): the session's user, if the session is live, the user active and the password unchanged. */
  async getUser(sessionKey: string | undefined, check: CredentialCheck = {}): Promise<SessionUser | null> {
    if (!sessionKey) return null;
    const now = Date.now();
    if (check.cached) {
      const hit = this.cachedSessionUser(sessionKey, now);
      if (hit) return hit;
      this.cacheMissed('session');
    }
    const version = this.sessionCache.version;
    const found = await this.loadSessionUser(sessionKey, now);
    if (found) this.sessionCache.set(sessionKey, found, found.user.id, version, now, found.session.expiresAt);
    else this.sessionCache.delete(sessionKey);
    return found;
  }

  private async loadSessionUser(sessionKey: string, now: number): Promise<SessionUser | null> {
    const loaded = await this.sessions.loadWithUserRow(sessionKey, now);
    if (!loaded || loaded.record.userId === null) return null;
    const session = loaded.record;
    const backend = this.backends.find((b) => b.name === session.backend);
    let user: User | null = null;
    if (backend === modelBackend && loaded.userRow !== undefined) {
      // The model backend's getUser, answered from the row that came with the session.
      const found = loaded.userRow ? this.users.fromRow(loaded.userRow as unknown as Selectable<UserTable>) : null;
      user = found && found.is_active ? found : null;
    } else if (backend) user = await backend.getUser(this.backendContext, loaded.record.userId);
    if (!user || !session.authHash || !constantTimeEqual(session.authHash, this.authHash(user.password))) {
      // A session whose user is gone or whose password changed is flushed, as Django does.
      await this.sessions.end(session);
      return null;
    }
    return { user, session };
  }

  /** A fresh access and refresh token pair for an authenticated user (contract section 3). */
  issueTokens(user: User): Promise<TokenPair> {
    return this.tokens.issue(user, this.authHash(user.password));
  }

  /** The user behind a bearer access token, if it verifies and the user is still active with the same password. */
  async getUserFromAccessToken(token: string, check: CredentialCheck = {}): Promise<User | null> {
    const now = Date.now();
    if (check.cached) {
      const hit = this.cachedTokenUser(token, now);
      if (hit) return hit;
      this.cacheMissed('token');
    }
    const version = this.tokenCache.version;
    const claims = await this.tokens.verifyAccess(token);
    if (!claims) return null;
    const user = await this.users.getById(claims.userId);
    if (!user || !user.is_active || !constantTimeEqual(claims.authHash, this.authHash(user.password).slice(0, 16))) {
      this.tokenCache.delete(token);
      return null;
    }
    this.tokenCache.set(token, user, user.id, version, now, claims.expiresAt);
    return user;
  }

  async logout(session: SessionRecord | null, user: User | null = null, request?: RequestInfo): Promise<void> {
    if (session) await this.sessions.end(session);
    this.events.emit('user_logged_out', { user, request });
  }

  /**
   * Sets a new password. With the current session given it goes on under a new key (Django's
   * update_session_auth_hash); every other session of the user ends.
   */
  async changePassword(user: User, newPassword: string, current?: SessionRecord): Promise<{ user: User; session?: IssuedSession }> {
    const updated = await this.users.setPassword(user, newPassword);
    await this.sessions.endAllForUser(user.id, current);
    await this.tokens.revokeForUser(user.id);
    if (!current) return { user: updated };
    const session = await this.sessions.cycle(current, { authHash: this.authHash(updated.password) });
    return { user: updated, session };
  }

  /** Deactivation and deletion end every session of the user at once. */
  async deactivate(user: User): Promise<User> {
    const updated = await this.users.update(user.id, { is_active: false });
    await this.endEverything(user.id);
    return updated;
  }

  /** Ends every session and revokes every refresh token of a user; returns how many sessions ended. */
  async endEverything(userId: number): Promise<number> {
    const ended = await this.sessions.endAllForUser(userId);
    await this.tokens.revokeForUser(userId);
    return ended;
  }

  async deleteUser(userId: number): Promise<void> {
    await this.endEverything(userId);
    if (!(await this.users.delete(userId))) throw new ApiError('not_found');
  }

  async close(): Promise<void> {
    await this.changeChannel?.close();
    await this.sessions.store.close();
    await this.mailer.close?.();
    await this.redis?.close();
    await this.database.close();
  }
}

export interface CreateOptions extends PortcullisOptions {
  /** Read `portcullis.config.*` from this folder (default: the working directory). */
  cwd?: string;
  /** Use these environment variables (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Run pending migrations at start (default true). */
  migrate?: boolean;
  /** Make these hashers the module-level default of `portcullis/passwords` too (default true). */
  setDefaultHashers?: boolean;
}

export async function createPortcullis(options: CreateOptions = {}): Promise<Portcullis> {
  const { cwd = process.cwd(), env = process.env, migrate: runMigrations = true, setDefaultHashers = true, ...rest } = options;
  const fileOptions = await loadConfigFile(cwd);
  const config = resolveConfig(rest, env, fileOptions, cwd);
  const database = connectDatabase(config.databaseUrl);
  let redis: RedisHandle | null = null;
  let portcullis: Portcullis | undefined;
  try {
    if (runMigrations) await migrate(database, config.userFields, config.loginFields);
    const hashers = createPasswordHashers(config.hashers.length ? config.hashers : DEFAULT_HASHERS, {
      hasherOptions: config.hasherOptions,
      maxConcurrent: config.hashConcurrency,
    });
    if (setDefaultHashers) setDefaultPasswordHashers(hashers);
    const storage = await openStorage(config, database);
    redis = storage.redis;
    const userOptions = { userFields: config.userFields, loginFields: config.loginFields };
    const users = storage.django ? new DjangoMirroredUserManager(database, hashers, userOptions, storage.django) : new UserManager(database, hashers, userOptions);
    const sessions = new Sessions(storage.sessions, { sessionAge: config.sessionAge, idleTimeout: config.sessionIdleTimeout });
    const tokens = new Tokens(
      database,
      { secret: config.secretKey, issuer: config.tokenIssuer, accessTokenAge: config.accessTokenAge, refreshTokenAge: config.refreshTokenAge },
      storage.refreshTokens,
    );
    const metrics = await createMetrics(config);
    portcullis = new Portcullis(config, database, hashers, users, new Permissions(database), sessions, tokens, storage, metrics);
    await portcullis.openChangeChannel();
    return portcullis;
  } catch (err) {
    if (portcullis) {
      // It owns the connections by now, and closes them all.
      await portcullis.close().catch(() => {});
      throw err;
    }
    await redis?.close();
    await database.close().catch(() => {});
    throw err;
  }
}
