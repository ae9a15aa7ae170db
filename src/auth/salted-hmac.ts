import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Django's django.utils.crypto.salted_hmac with algorithm sha256: a key derived from salt and secret. */
export function saltedHmac(keySalt: string, value: string, secret: string): string {
  const key = createHash('sha256').update(keySalt + secret).digest();
  return createHmac('sha256', key).update(value).digest('hex');
}

const SESSION_AUTH_SALT = 'django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash';

/**
 * Django's get_session_auth_hash: an HMAC of the password hash. A session remembers it at login and
 * stops being valid the moment the password (hence its hash) changes.
 */
export function sessionAuthHash(passwordHash: string, secret: string): string {
  return saltedHmac(SESSION_AUTH_SALT, passwordHash, secret);
}

export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
