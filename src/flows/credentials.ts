import type { AuthenticatedUser, Portcullis, SessionUser } from '../portcullis.js';
import type { SessionRecord } from '../sessions/base.js';
import type { Credentials, RequestInfo } from '../auth/backends.js';
import { ApiError, validationError, type FieldErrors } from '../errors.js';
import { guarded, type ThrottleSubject } from '../throttle/throttle.js';
import type { CreateUserInput, User } from '../users/types.js';

/**
 * The rules of every door that takes a secret or makes an account, in one place: the JSON API, the
 * pages and the adapters call these, never the throttle or the user manager's checks themselves.
 */

/** A request as these flows see it: the client's address is what the throttle counts. */
export interface ClientInfo extends RequestInfo {
  ip: string;
}

/**
 * What a login identifier is counted against: the account it names (every spelling of every
 * identifier of one account shares its counters), else the identifier in the lookup's normal form.
 */
async function loginSubject(portcullis: Portcullis, credentials: Credentials, ip: string): Promise<ThrottleSubject> {
  const identifier = identifierOf(portcullis, credentials);
  if (identifier === undefined) return { unnamed: ip };
  const id = await portcullis.users.idByLogin(identifier);
  return id === null ? { login: identifier } : { account: id };
}

/** What credentials name: a backend's own answer, else `username`, `email` or `phone`. */
function identifierOf(portcullis: Portcullis, credentials: Credentials): string | undefined {
  for (const backend of portcullis.backends) {
    if (!backend.identifier || (backend.accepts && !backend.accepts(credentials))) continue;
    const named = backend.identifier(credentials);
    if (typeof named === 'string' && named) return named;
  }
  for (const field of ['username', 'email', 'phone']) {
    const value = credentials[field];
    if (typeof value === 'string' && value) return value;
  }
  return undefined;
}

/**
 * Checks login credentials under the guessing limits (429 `throttled` past them). Returns the user
 * and backend, or null when they are wrong (or the user inactive). A username and password that
 * would never reach a hasher (too long, a null character) are 400 `validation_error`.
 */
export async function checkLogin(portcullis: Portcullis, credentials: Credentials, client: ClientInfo): Promise<AuthenticatedUser | null> {
  const { username, password } = credentials;
  if (typeof password === 'string') portcullis.users.checkPasswordInput('password', password);
  if (typeof username === 'string' && username.includes('\0')) throw validationError({ username: ['null_character'] });
  const subject = await loginSubject(portcullis, credentials, client.ip);
  return guarded(portcullis.throttle, client.ip, subject, () => portcullis.authenticate(credentials, client));
}

/** `checkLogin` for the usual username-or-email-or-phone and password, 400 `missing_credentials` without them. */
export async function checkPasswordLogin(portcullis: Portcullis, username: unknown, password: unknown, client: ClientInfo): Promise<AuthenticatedUser | null> {
  if (typeof username !== 'string' || typeof password !== 'string' || !username || !password) throw new ApiError('missing_credentials');
  return checkLogin(portcullis, { username, password }, client);
}

/**
 * A signed-in user's own password, re-entered (password change, re-authentication), checked under
 * limits of their own: nobody at the login can use them up, and a stolen session cannot guess freely.
 */
export async function checkOwnPassword(portcullis: Portcullis, user: User, field: string, password: unknown, ip: string): Promise<boolean> {
  const raw = portcullis.users.checkPasswordInput(field, password);
  const ok = await guarded(portcullis.throttle, ip, { reauth: user.id }, async () => (await portcullis.users.checkPassword(user, raw)) || null);
  return ok === true;
}

/** Whether a session comes from a login within PORTCULLIS_REAUTH_MINUTES (login always issues a new session). */
export function isFreshLogin(portcullis: Portcullis, session: SessionRecord, now = Date.now()): boolean {
  return now - session.createdAt <= portcullis.config.reauthMinutes * 60_000;
}

/**
 * Re-authentication for sensitive actions (ASVS 7.5: ending other sessions, changing the email):
 * the session must come from a fresh login, or the request carries the current password, checked
 * under checkOwnPassword's limits. Otherwise 400 `validation_error` on `password` (`reauth_required`
 * or `password_incorrect`), which tells a frontend to ask for it.
 */
export async function requireFreshLogin(portcullis: Portcullis, ip: string, auth: SessionUser, password: string | undefined, now = Date.now()): Promise<void> {
  if (password === undefined || password === '') {
    if (isFreshLogin(portcullis, auth.session, now)) return;
    throw validationError({ password: ['reauth_required'] });
  }
  if (!(await checkOwnPassword(portcullis, auth.user, 'password', password, ip))) throw validationError({ password: ['password_incorrect'] });
}

/**
 * Registration: limited per client (429 `throttled` past `throttle.registerPerIp`), then the checks
 * of `createAccount`.
 */
export async function register(portcullis: Portcullis, input: CreateUserInput, password: unknown, client: ClientInfo): Promise<User> {
  const { throttle } = portcullis;
  await throttle.clientRate('register', client.ip, throttle.limits.registerPerIp);
  return createAccount(portcullis, input, password);
}

/**
 * A new account, by whoever may make one (registration, the command line's createsuperuser): every
 * field's problem reported at once (400), the password judged by the validators against the new
 * profile, a taken identifier refused (409) before the password is hashed.
 */
export async function createAccount(portcullis: Portcullis, input: CreateUserInput, password: unknown): Promise<User> {
  const { users } = portcullis;
  const errors: FieldErrors = {};
  const collect = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof ApiError) || !err.fields) throw err;
      for (const [field, ids] of Object.entries(err.fields)) (errors[field] ??= []).push(...ids);
    }
  };
  collect(() => users.cleanProfile(input, false));
  collect(() => users.checkPasswordInput('password', password));
  if (!errors.password) collect(() => portcullis.validateNewPassword('password', password as string, input));
  if (Object.keys(errors).length) throw validationError(errors);
  return users.createUser({ ...input, password: password as string });
}
