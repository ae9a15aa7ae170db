import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, resolve, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { nearest } from './nearest.js';
import type { HasherOptions, PasswordHasher } from './passwords/index.js';
import type { AuthBackend } from './auth/backends.js';
import type { LoginStep } from './flows/login.js';
import type { PasswordValidator } from './validation/password.js';
import type { Mailer } from './mail/base.js';
import type { ThrottleLimits } from './throttle/throttle.js';

export type SameSite = 'Lax' | 'Strict' | 'None';

/** A custom user field declared in the config file; it becomes a column of `auth_user`. */
export interface CustomFieldSpec {
  type: 'string' | 'integer' | 'boolean';
  unique?: boolean;
  maxLength?: number;
  /** A value must match this pattern (strings only). */
  pattern?: string;
}

/** How a login identifier is recognised: the first field whose pattern matches is looked up. */
export interface LoginFieldSpec {
  field: string;
  pattern?: RegExp;
}

export interface PortcullisConfig {
  databaseUrl: string;
  sessionStore: string;
  /** Prefix of every Redis key (PORTCULLIS_REDIS_PREFIX), so several apps or test runs can share one Redis. */
  redisPrefix: string;
  secretKey: string;
  port: number;
  host: string;
  trustedOrigins: string[];
  sessionAge: number;
  /** Send the session cookie on every request, not only when the session changed. */
  sessionSaveEveryRequest: boolean;
  /** Bytes of JSON an application session may hold (default 64 KiB). */
  sessionMaxBytes: number;
  /** Seconds an access token lives (PORTCULLIS_ACCESS_TOKEN_AGE, default 300). */
  accessTokenAge: number;
  /** Seconds a refresh token lives (PORTCULLIS_REFRESH_TOKEN_AGE, default 14 days). */
  refreshTokenAge: number;
  /** The `iss` claim of access tokens. */
  tokenIssuer: string;
  secureCookies: boolean;
  sameSite: SameSite;
  sessionCookieName: string;
  csrfCookieName: string;
  loginFields: LoginFieldSpec[];
  userFields: Record<string, CustomFieldSpec>;
  hashers: Array<string | PasswordHasher>;
  /** Cost parameters per algorithm, e.g. `{ argon2: { memoryCost: 65536, timeCost: 3 } }`. */
  hasherOptions: Record<string, HasherOptions>;
  backends: Array<string | AuthBackend>;
  /** Checks between a right password and a session, in order (src/flows/login.ts): where a second factor goes. */
  loginSteps: LoginStep[];
  /** Django's AUTH_PASSWORD_VALIDATORS: names, `{name, options}` or validator objects; absent means all defaults. */
  passwordValidators?: Array<string | { name: string; options?: Record<string, unknown> } | PasswordValidator>;
  loginOnRegister: boolean;
  /** Django's SECRET_KEY, for PORTCULLIS_SESSION_STORE=django (PORTCULLIS_DJANGO_SECRET_KEY). */
  djangoSecretKey?: string;
  /** The Django app's database, holding django_session (PORTCULLIS_DJANGO_DATABASE_URL; default: databaseUrl). */
  djangoDatabaseUrl?: string;
  /** Proxies whose X-Forwarded-For is believed (PORTCULLIS_TRUSTED_PROXIES: IPs or CIDRs); nobody else's is. */
  trustedProxies: string[];
  /** Guessing limits (config file `throttle`); see src/throttle/throttle.ts for the defaults. */
  throttle: Partial<ThrottleLimits>;
  /** Seconds a password-reset link lives (PORTCULLIS_PASSWORD_RESET_TIMEOUT, default 3 days, as Django). */
  passwordResetTimeout: number;
  /** Base of links in mails (PORTCULLIS_PUBLIC_URL, default http://localhost:PORT). */
  publicUrl: string;
  /** SMTP server for mail (PORTCULLIS_SMTP_URL); absent means the console mailer. */
  smtpUrl?: string;
  /** Sender of mails (PORTCULLIS_MAIL_FROM, Django's DEFAULT_FROM_EMAIL). */
  mailFrom: string;
  /** A mailer object from the config file; wins over smtpUrl. */
  mailer?: Mailer;
  /** Seconds of inactivity after which a session ends (PORTCULLIS_SESSION_IDLE_TIMEOUT); 0 = never. */
  sessionIdleTimeout: number;
  /** Minutes a login counts as fresh for sensitive actions (PORTCULLIS_REAUTH_MINUTES, default 15). */
  reauthMinutes: number;
  /**
   * Milliseconds a checked session key or access token may be trusted again without the store, for
   * safe requests only (PORTCULLIS_AUTH_CACHE_MS, default 1000, 0 = off): the longest a change made
   * by another instance goes unseen here. Changes made by this instance apply at once.
   */
  authCacheMs: number;
  /**
   * Password hashes computed at once (PORTCULLIS_HASH_CONCURRENCY); default one per core but one, so
   * the event loop always has a core (see defaultHashConcurrency). Others wait their turn, FIFO.
   */
  hashConcurrency?: number;
  production: boolean;
  logLevel: string;
  /**
   * One log line per answered request: method, path (no query string), route, status, milliseconds
   * and request id (PORTCULLIS_ACCESS_LOG=1; default off). Errors and security events are logged
   * either way.
   */
  accessLog: boolean;
  /**
   * Serve GET /metrics (Prometheus) on a listener of its own at this port (PORTCULLIS_METRICS_PORT;
   * `portcullis serve` starts it). Absent, with no metricsToken either: metrics are off.
   */
  metricsPort?: number;
  /** Address of the metrics listener (PORTCULLIS_METRICS_HOST, default 127.0.0.1: this machine only). */
  metricsHost: string;
  /**
   * Serve GET /metrics on the public port too, to `Authorization: Bearer <token>` only; without it
   * (or with another) the path is an ordinary 404 (PORTCULLIS_METRICS_TOKEN, at least 16 characters).
   */
  metricsToken?: string;
  /** prom-client's process and Node.js metrics beside portcullis's own (PORTCULLIS_METRICS_PROCESS, default on). */
  metricsProcess: boolean;
  dataDir: string;
}

export type PortcullisOptions = Partial<Omit<PortcullisConfig, 'loginFields'>> & {
  loginFields?: Array<string | LoginFieldSpec>;
};

/** auth_user's own columns and the user's own keys in the API: never a custom field's name. */
const RESERVED_FIELDS = new Set(['id', 'password', 'last_login', 'is_superuser', 'username', 'first_name', 'last_name', 'email', 'is_staff', 'is_active', 'date_joined', 'fields', 'groups', 'user_permissions']);

/** The seed's rule for a mainland-China mobile number; one configurable pattern among others. */
export const CHINA_MOBILE = /^1[3-9]\d{9}$/;

const DEFAULT_LOGIN_PATTERNS: Record<string, RegExp | undefined> = {
  username: undefined,
  email: /@/,
  phone: CHINA_MOBILE,
};

export const DEFAULT_USER_FIELDS: Record<string, CustomFieldSpec> = {
  phone: { type: 'string', unique: true, maxLength: 32, pattern: '^\\+?[0-9]{6,20}$' },
};

function normaliseLoginFields(fields: Array<string | LoginFieldSpec>): LoginFieldSpec[] {
  return fields.map((f) => (typeof f === 'string' ? { field: f, pattern: DEFAULT_LOGIN_PATTERNS[f] } : f));
}

function parseBool(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  return ['1', 'true', 'yes', 'on'].includes(value.toLowerCase());
}

function parseIntStrict(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const unit = name === 'PORT' || name === 'PORTCULLIS_METRICS_PORT' || name === 'PORTCULLIS_HASH_CONCURRENCY' ? '' : name.endsWith('_MS') ? ' of milliseconds' : name.endsWith('_MINUTES') ? ' of minutes' : ' of seconds';
  if (!/^\d+$/.test(value)) throw new ConfigError(`${name} must be a whole number${unit}, not "${value}".`);
  return Number(value);
}

/** A setting that cannot work; the server stops at start-up with this one line. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

function fromEnv(env: NodeJS.ProcessEnv): PortcullisOptions {
  const o: PortcullisOptions = {};
  if (env.PORTCULLIS_DATABASE_URL) o.databaseUrl = env.PORTCULLIS_DATABASE_URL;
  if (env.PORTCULLIS_SESSION_STORE) o.sessionStore = env.PORTCULLIS_SESSION_STORE;
  if (env.PORTCULLIS_REDIS_PREFIX) o.redisPrefix = env.PORTCULLIS_REDIS_PREFIX;
  if (env.PORTCULLIS_SECRET_KEY) o.secretKey = env.PORTCULLIS_SECRET_KEY;
  const port = parseIntStrict('PORT', env.PORT);
  if (port !== undefined) o.port = port;
  if (env.HOST) o.host = env.HOST;
  if (env.PORTCULLIS_TRUSTED_ORIGINS !== undefined) {
    o.trustedOrigins = env.PORTCULLIS_TRUSTED_ORIGINS.split(',').map((s) => s.trim()).filter(Boolean);
  }
  const age = parseIntStrict('PORTCULLIS_SESSION_AGE', env.PORTCULLIS_SESSION_AGE);
  if (age !== undefined) o.sessionAge = age;
  const accessAge = parseIntStrict('PORTCULLIS_ACCESS_TOKEN_AGE', env.PORTCULLIS_ACCESS_TOKEN_AGE);
  if (accessAge !== undefined) o.accessTokenAge = accessAge;
  const refreshAge = parseIntStrict('PORTCULLIS_REFRESH_TOKEN_AGE', env.PORTCULLIS_REFRESH_TOKEN_AGE);
  if (refreshAge !== undefined) o.refreshTokenAge = refreshAge;
  const secure = parseBool(env.PORTCULLIS_SECURE_COOKIES);
  if (secure !== undefined) o.secureCookies = secure;
  if (env.PORTCULLIS_SAMESITE) o.sameSite = env.PORTCULLIS_SAMESITE as SameSite;
  if (env.PORTCULLIS_SESSION_COOKIE_NAME) o.sessionCookieName = env.PORTCULLIS_SESSION_COOKIE_NAME;
  if (env.PORTCULLIS_LOGIN_FIELDS) o.loginFields = env.PORTCULLIS_LOGIN_FIELDS.split(',').map((s) => s.trim()).filter(Boolean);
  const every = parseBool(env.PORTCULLIS_SESSION_SAVE_EVERY_REQUEST);
  if (every !== undefined) o.sessionSaveEveryRequest = every;
  const lor = parseBool(env.PORTCULLIS_LOGIN_ON_REGISTER);
  if (lor !== undefined) o.loginOnRegister = lor;
  if (env.PORTCULLIS_TRUSTED_PROXIES !== undefined) {
    o.trustedProxies = env.PORTCULLIS_TRUSTED_PROXIES.split(',').map((s) => s.trim()).filter(Boolean);
  }
  const resetTimeout = parseIntStrict('PORTCULLIS_PASSWORD_RESET_TIMEOUT', env.PORTCULLIS_PASSWORD_RESET_TIMEOUT);
  if (resetTimeout !== undefined) o.passwordResetTimeout = resetTimeout;
  if (env.PORTCULLIS_PUBLIC_URL) o.publicUrl = env.PORTCULLIS_PUBLIC_URL;
  if (env.PORTCULLIS_SMTP_URL) o.smtpUrl = env.PORTCULLIS_SMTP_URL;
  if (env.PORTCULLIS_MAIL_FROM) o.mailFrom = env.PORTCULLIS_MAIL_FROM;
  const idle = parseIntStrict('PORTCULLIS_SESSION_IDLE_TIMEOUT', env.PORTCULLIS_SESSION_IDLE_TIMEOUT);
  if (idle !== undefined) o.sessionIdleTimeout = idle;
  const reauth = parseIntStrict('PORTCULLIS_REAUTH_MINUTES', env.PORTCULLIS_REAUTH_MINUTES);
  if (reauth !== undefined) o.reauthMinutes = reauth;
  const authCache = parseIntStrict('PORTCULLIS_AUTH_CACHE_MS', env.PORTCULLIS_AUTH_CACHE_MS);
  if (authCache !== undefined) o.authCacheMs = authCache;
  const hashConcurrency = parseIntStrict('PORTCULLIS_HASH_CONCURRENCY', env.PORTCULLIS_HASH_CONCURRENCY);
  if (hashConcurrency !== undefined) o.hashConcurrency = hashConcurrency;
  if (env.PORTCULLIS_DJANGO_SECRET_KEY) o.djangoSecretKey = env.PORTCULLIS_DJANGO_SECRET_KEY;
  if (env.PORTCULLIS_DJANGO_DATABASE_URL) o.djangoDatabaseUrl = env.PORTCULLIS_DJANGO_DATABASE_URL;
  if (env.NODE_ENV) o.production = env.NODE_ENV === 'production';
  if (env.PORTCULLIS_LOG_LEVEL) o.logLevel = env.PORTCULLIS_LOG_LEVEL;
  const accessLog = parseBool(env.PORTCULLIS_ACCESS_LOG);
  if (accessLog !== undefined) o.accessLog = accessLog;
  const metricsPort = parseIntStrict('PORTCULLIS_METRICS_PORT', env.PORTCULLIS_METRICS_PORT);
  if (metricsPort !== undefined) o.metricsPort = metricsPort;
  if (env.PORTCULLIS_METRICS_HOST) o.metricsHost = env.PORTCULLIS_METRICS_HOST;
  if (env.PORTCULLIS_METRICS_TOKEN) o.metricsToken = env.PORTCULLIS_METRICS_TOKEN;
  const metricsProcess = parseBool(env.PORTCULLIS_METRICS_PROCESS);
  if (metricsProcess !== undefined) o.metricsProcess = metricsProcess;
  if (env.PORTCULLIS_DATA_DIR) o.dataDir = env.PORTCULLIS_DATA_DIR;
  return o;
}

/** Which file a set of options came from, so that an error can name it. */
const CONFIG_FILE_SOURCES = new WeakMap<object, string>();

/** Reads `portcullis.config.{js,mjs,json}` (or `.ts` when running under a TypeScript loader) from `cwd`. */
export async function loadConfigFile(cwd: string): Promise<PortcullisOptions> {
  for (const name of ['portcullis.config.js', 'portcullis.config.mjs', 'portcullis.config.ts', 'portcullis.config.json']) {
    const path = join(cwd, name);
    if (!existsSync(path)) continue;
    let options: PortcullisOptions;
    if (name.endsWith('.json')) options = JSON.parse(readFileSync(path, 'utf8')) as PortcullisOptions;
    else {
      try {
        const mod = (await import(pathToFileURL(path).href)) as { default?: PortcullisOptions };
        options = mod.default ?? {};
      } catch (err) {
        throw new ConfigError(`Could not load ${name}: ${(err as Error).message}`);
      }
    }
    CONFIG_FILE_SOURCES.set(options, name);
    return options;
  }
  return {};
}

/** Every setting a config file or createPortcullis may name; a missing or extra entry does not compile. */
const KNOWN_SETTINGS = {
  databaseUrl: true, sessionStore: true, redisPrefix: true, secretKey: true, port: true, host: true,
  trustedOrigins: true, sessionAge: true, sessionSaveEveryRequest: true, sessionMaxBytes: true,
  accessTokenAge: true, refreshTokenAge: true, tokenIssuer: true, secureCookies: true, sameSite: true,
  sessionCookieName: true, csrfCookieName: true, loginFields: true, userFields: true, hashers: true,
  hasherOptions: true, backends: true, loginSteps: true, passwordValidators: true, loginOnRegister: true,
  djangoSecretKey: true, djangoDatabaseUrl: true, trustedProxies: true, throttle: true,
  passwordResetTimeout: true, publicUrl: true, smtpUrl: true, mailFrom: true, mailer: true,
  sessionIdleTimeout: true, reauthMinutes: true, authCacheMs: true, hashConcurrency: true,
  production: true, logLevel: true, dataDir: true, accessLog: true,
  metricsPort: true, metricsHost: true, metricsToken: true, metricsProcess: true,
} satisfies Record<keyof PortcullisOptions, true>;

/**
 * A misspelt key would otherwise be ignored without a word (`userFeilds` and the custom fields are
 * silently absent): every unknown key is a setting that cannot work.
 */
function refuseUnknownSettings(options: object, source: string): void {
  for (const key of Object.keys(options)) {
    if (key in KNOWN_SETTINGS) continue;
    const near = nearest(key, Object.keys(KNOWN_SETTINGS));
    throw new ConfigError(`${source}: unknown setting "${key}"${near ? `; did you mean "${near}"?` : '.'}`);
  }
}

/** Generated on first run and kept beside the database, readable by the owner alone. */
function loadOrCreateSecretKey(dataDir: string): string {
  const path = join(dataDir, 'secret_key');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(48).toString('base64url');
  writeFileSync(path, key + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return key;
}

/**
 * Merges, in rising precedence: defaults, the config file, environment variables, explicit options.
 * Settings that cannot work throw ConfigError with one line saying what to change.
 *
 * `base` is the folder a relative data directory is taken from (createPortcullis's `cwd`).
 */
export function resolveConfig(options: PortcullisOptions = {}, env: NodeJS.ProcessEnv = {}, fileOptions: PortcullisOptions = {}, base = process.cwd()): PortcullisConfig {
  refuseUnknownSettings(fileOptions, CONFIG_FILE_SOURCES.get(fileOptions) ?? 'the config file');
  refuseUnknownSettings(options, 'createPortcullis options');
  const merged: PortcullisOptions = { ...fileOptions, ...fromEnv(env), ...stripUndefined(options) };
  const dataDir = resolve(base, merged.dataDir ?? './data');
  const databaseUrl = merged.databaseUrl ?? `sqlite:${join(dataDir, 'portcullis.sqlite3')}`;
  const sameSite = merged.sameSite ?? 'Lax';
  if (!['Lax', 'Strict', 'None'].includes(sameSite)) {
    throw new ConfigError(`PORTCULLIS_SAMESITE must be Lax, Strict or None, not "${sameSite}".`);
  }
  const secureCookies = merged.secureCookies ?? false;
  if (sameSite === 'None' && !secureCookies) {
    throw new ConfigError(
      'SameSite=None cookies are dropped by browsers unless they are Secure: set PORTCULLIS_SECURE_COOKIES=1 (and serve over HTTPS) or use SameSite=Lax.',
    );
  }
  for (const origin of merged.trustedOrigins ?? []) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new ConfigError(`PORTCULLIS_TRUSTED_ORIGINS: "${origin}" is not a URL; write it like http://localhost:5173.`);
    }
    if (url.origin !== origin.replace(/\/$/, '')) {
      throw new ConfigError(`PORTCULLIS_TRUSTED_ORIGINS: "${origin}" must be a bare origin such as ${url.origin} (no path).`);
    }
  }
  validateDatabaseUrl(databaseUrl);
  if (merged.djangoDatabaseUrl) validateDatabaseUrl(merged.djangoDatabaseUrl);
  if (merged.sessionStore === 'django' && !merged.djangoSecretKey) {
    throw new ConfigError('PORTCULLIS_SESSION_STORE=django needs PORTCULLIS_DJANGO_SECRET_KEY, the SECRET_KEY of the Django app that shares the sessions.');
  }
  const sessionAge = merged.sessionAge ?? 1209600;
  if (sessionAge <= 0) throw new ConfigError('PORTCULLIS_SESSION_AGE must be a positive number of seconds.');
  if (merged.hashConcurrency !== undefined && (!Number.isSafeInteger(merged.hashConcurrency) || merged.hashConcurrency < 1)) {
    throw new ConfigError('PORTCULLIS_HASH_CONCURRENCY must be a whole number of at least 1.');
  }
  const authCacheMs = merged.authCacheMs ?? 1000;
  if (!Number.isInteger(authCacheMs) || authCacheMs < 0 || authCacheMs > 60_000) {
    throw new ConfigError('PORTCULLIS_AUTH_CACHE_MS must be a whole number of milliseconds from 0 (off) to 60000.');
  }
  const userFields = { ...DEFAULT_USER_FIELDS, ...(merged.userFields ?? {}) };
  for (const name of Object.keys(userFields)) {
    if (!/^[a-z][a-z0-9_]{0,62}$/.test(name)) throw new ConfigError(`userFields: "${name}" is not a valid column name.`);
    // A custom field named like one of auth_user's own columns would be written over it (the password, a flag).
    if (RESERVED_FIELDS.has(name)) throw new ConfigError(`userFields: "${name}" is one of auth_user's own fields; give the custom field another name.`);
  }
  const loginFields = normaliseLoginFields(merged.loginFields ?? ['username', 'email', 'phone']);
  for (const { field } of loginFields) {
    if (field !== 'username' && field !== 'email' && !(field in userFields)) {
      throw new ConfigError(`PORTCULLIS_LOGIN_FIELDS names "${field}", which is not a user field.`);
    }
  }
  for (const proxy of merged.trustedProxies ?? []) {
    if (!/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(proxy)) {
      throw new ConfigError(`PORTCULLIS_TRUSTED_PROXIES: "${proxy}" is not an IP address or CIDR range such as 10.0.0.0/8.`);
    }
  }
  const port = merged.port ?? 8000;
  if (merged.metricsPort !== undefined && (!Number.isInteger(merged.metricsPort) || merged.metricsPort < 1 || merged.metricsPort > 65535 || merged.metricsPort === port)) {
    throw new ConfigError(`PORTCULLIS_METRICS_PORT must be a port from 1 to 65535 other than PORT (${port}), e.g. 9464.`);
  }
  // The counts are no secret, but they are nobody else's business, and a short token is guessed.
  if (merged.metricsToken !== undefined && merged.metricsToken.length < 16) {
    throw new ConfigError('PORTCULLIS_METRICS_TOKEN must be at least 16 characters; generate one with `openssl rand -hex 24`.');
  }
  const publicUrl = (merged.publicUrl ?? `http://localhost:${port}`).replace(/\/+$/, '');
  try {
    new URL(publicUrl);
  } catch {
    throw new ConfigError(`PORTCULLIS_PUBLIC_URL "${publicUrl}" is not a URL; write it like https://accounts.example.com.`);
  }
  return {
    databaseUrl,
    sessionStore: merged.sessionStore ?? 'database',
    redisPrefix: merged.redisPrefix ?? 'portcullis:',
    secretKey: merged.secretKey ?? loadOrCreateSecretKey(dataDir),
    port,
    host: merged.host ?? 'localhost',
    trustedOrigins: (merged.trustedOrigins ?? []).map((o) => o.replace(/\/$/, '')),
    sessionAge,
    sessionSaveEveryRequest: merged.sessionSaveEveryRequest ?? false,
    sessionMaxBytes: merged.sessionMaxBytes ?? 64 * 1024,
    accessTokenAge: merged.accessTokenAge ?? 300,
    refreshTokenAge: merged.refreshTokenAge ?? 1209600,
    tokenIssuer: merged.tokenIssuer ?? 'portcullis',
    secureCookies,
    sameSite,
    sessionCookieName: merged.sessionCookieName ?? 'sessionid',
    csrfCookieName: merged.csrfCookieName ?? 'csrftoken',
    loginFields,
    userFields,
    hashers: merged.hashers ?? [],
    hasherOptions: merged.hasherOptions ?? {},
    backends: merged.backends ?? ['model'],
    loginSteps: merged.loginSteps ?? [],
    passwordValidators: merged.passwordValidators,
    loginOnRegister: merged.loginOnRegister ?? false,
    djangoSecretKey: merged.djangoSecretKey,
    djangoDatabaseUrl: merged.djangoDatabaseUrl,
    trustedProxies: merged.trustedProxies ?? [],
    throttle: merged.throttle ?? {},
    passwordResetTimeout: merged.passwordResetTimeout ?? 259_200,
    publicUrl,
    smtpUrl: merged.smtpUrl,
    mailFrom: merged.mailFrom ?? 'webmaster@localhost',
    mailer: merged.mailer,
    sessionIdleTimeout: merged.sessionIdleTimeout ?? 0,
    reauthMinutes: merged.reauthMinutes ?? 15,
    authCacheMs,
    hashConcurrency: merged.hashConcurrency,
    production: merged.production ?? false,
    logLevel: merged.logLevel ?? 'info',
    accessLog: merged.accessLog ?? false,
    metricsPort: merged.metricsPort,
    metricsHost: merged.metricsHost ?? '127.0.0.1',
    metricsToken: merged.metricsToken,
    metricsProcess: merged.metricsProcess ?? true,
    dataDir,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validateDatabaseUrl(url: string): void {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (!path) throw new ConfigError('PORTCULLIS_DATABASE_URL: write sqlite:PATH, e.g. sqlite:./data/portcullis.sqlite3.');
    if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
    return;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`PORTCULLIS_DATABASE_URL "${redactUrl(url)}" is not a valid URL; use sqlite:PATH or postgres://user@host/db.`);
  }
  if (!['postgres:', 'postgresql:', 'mysql:'].includes(parsed.protocol)) {
    throw new ConfigError(`PORTCULLIS_DATABASE_URL scheme "${parsed.protocol}" is not supported; use sqlite:, postgres:// or mysql://.`);
  }
}

/** Hides the password of a connection URL so that it can be logged. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}
