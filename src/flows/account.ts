import type { Portcullis, SessionUser } from '../portcullis.js';
import type { SessionRecord } from '../sessions/base.js';
import type { IssuedSession } from '../sessions/manager.js';
import type { User } from '../users/types.js';
import { ApiError, validationError } from '../errors.js';
import { loginKey } from '../users/normalize.js';
import { checkOwnPassword, requireFreshLogin, type ClientInfo } from './credentials.js';

/**
 * What a signed-in user does to their own account, each use case with all of its rules: the JSON
 * API and the pages translate their input and output and call these.
 */

/**
 * Changes the password (contract section 2): the old one is checked under the re-authentication
 * limits (400 on `old_password` when wrong, 429 past the limit), the new one by the validators (400
 * on `new_password`); every other session and every refresh token ends, and the current session
 * goes on under a new key.
 */
export async function changeOwnPassword(
  portcullis: Portcullis,
  auth: SessionUser,
  oldPassword: unknown,
  newPassword: unknown,
  client: ClientInfo,
  /** A form's second copy of the new password (Django's new_password2), when there is one. */
  confirmation?: unknown,
): Promise<{ user: User; session?: IssuedSession }> {
  const { users } = portcullis;
  users.checkPasswordInput('old_password', oldPassword);
  const next = users.checkPasswordInput('new_password', newPassword);
  if (!(await checkOwnPassword(portcullis, auth.user, 'old_password', oldPassword, client.ip))) throw validationError({ old_password: ['password_incorrect'] });
  if (confirmation !== undefined && confirmation !== next) throw validationError({ new_password2: ['password_mismatch'] });
  portcullis.validateNewPassword('new_password', next, auth.user);
  return portcullis.changePassword(auth.user, next, auth.session);
}

/**
 * Sets a user's password on an authority other than their own session (the command line's
 * changepassword): the validators judge it (400 on `password`), and then, as with the user's own
 * change, every session and every refresh token of the user ends, and the change is published on
 * the change channel before this returns (running servers forget the user at once).
 */
export async function setPassword(portcullis: Portcullis, user: User, newPassword: unknown): Promise<User> {
  const next = portcullis.users.checkPasswordInput('password', newPassword);
  portcullis.validateNewPassword('password', next, user);
  return (await portcullis.changePassword(user, next)).user;
}

/** Ends every other session of the user, after re-authentication (a fresh login or `password`); returns how many ended. */
export async function endOtherSessions(portcullis: Portcullis, auth: SessionUser, password: string | undefined, client: ClientInfo): Promise<number> {
  await requireFreshLogin(portcullis, client.ip, auth, password);
  return portcullis.sessions.endAllForUser(auth.user.id, auth.session);
}

/**
 * Ends one of the user's own sessions by its public id; someone else's is 404 `not_found`, exactly as
 * one that does not exist. Says whether it was the current one (the door then clears its cookie).
 */
export async function endOwnSession(portcullis: Portcullis, auth: SessionUser, publicId: string): Promise<{ current: boolean }> {
  if (publicId.length > 64 || !(await portcullis.sessions.revoke(auth.user.id, publicId))) throw new ApiError('not_found');
  return { current: publicId === auth.session.publicId };
}

/** The user's live sessions, newest first as the store lists them. */
export function listOwnSessions(portcullis: Portcullis, auth: SessionUser): Promise<SessionRecord[]> {
  return portcullis.sessions.list(auth.user.id);
}

/**
 * Whether a profile change touches a way into the account: a login identifier, or the email (where
 * reset mails go) whether or not it is one.
 */
function identifierChanged(portcullis: Portcullis, user: User, patch: Record<string, unknown>): boolean {
  const same = (typed: unknown, stored: unknown) => loginKey(typeof typed === 'string' ? typed : '') === loginKey(typeof stored === 'string' ? stored : '');
  const fields = new Set(['email', ...portcullis.config.loginFields.map((f) => f.field)]);
  return [...fields].some((field) => {
    if (!(field in patch)) return false;
    const stored = field === 'username' ? user.username : field === 'email' ? user.email : user.fields[field];
    return !same(patch[field], stored);
  });
}

/**
 * Changes the user's own profile. A change of the email or a login identifier needs a fresh login
 * or the password (400 on `password` otherwise); an identifier another account has is 409. Such
 * changes are limited per client like registrations, so the 409s cannot list who is registered.
 */
export async function changeOwnProfile(
  portcullis: Portcullis,
  auth: SessionUser,
  patch: Record<string, unknown>,
  password: string | undefined,
  client: ClientInfo,
): Promise<User> {
  if (identifierChanged(portcullis, auth.user, patch)) {
    await requireFreshLogin(portcullis, client.ip, auth, password);
    await portcullis.throttle.clientRate('identifier-change', client.ip, portcullis.throttle.limits.registerPerIp);
  }
  return portcullis.users.update(auth.user.id, patch);
}

/** Ends the session (its data with it) and tells the listeners who logged out. */
export async function logOut(portcullis: Portcullis, session: SessionRecord | null, user: User | null, client?: ClientInfo): Promise<void> {
  await portcullis.logout(session, user, client);
}
