import type { Portcullis, SessionUser } from '../portcullis.js';
import { validationError } from '../errors.js';
import { guarded } from '../throttle/throttle.js';

/** The optional `{"password"}` of a sensitive request whose body may also be absent. */
export function reauthPassword(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw validationError({ body: ['invalid_type'] });
  const password = (body as Record<string, unknown>).password;
  if (password === undefined) return undefined;
  if (typeof password !== 'string') throw validationError({ password: ['invalid_type'] });
  return password;
}

/**
 * Re-authentication for sensitive actions (ASVS 7.5): the session must come from a login within
 * PORTCULLIS_REAUTH_MINUTES (login always issues a new session, so its creation time is the login
 * time), or the request carries the current password, checked under the same throttle as a login.
 * Otherwise 400 `validation_error` on `password`, which tells a frontend to ask for it.
 */
export async function requireFreshLogin(portcullis: Portcullis, ip: string, auth: SessionUser, password: string | undefined, now = Date.now()): Promise<void> {
  if (password === undefined) {
    if (now - auth.session.createdAt <= portcullis.config.reauthMinutes * 60_000) return;
    throw validationError({ password: ['reauth_required'] });
  }
  portcullis.users.checkPasswordInput('password', password);
  const ok = await guarded(portcullis.throttle, ip, `user:${auth.user.id}`, async () => (await portcullis.users.checkPassword(auth.user, password)) || null);
  if (!ok) throw validationError({ password: ['password_incorrect'] });
}
