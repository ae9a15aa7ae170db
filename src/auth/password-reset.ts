import { constantTimeEqual, saltedHmac } from './salted-hmac.js';

/** What the token is bound to: a change to any of these (password, last login, email) kills it. */
export interface ResetTokenUser {
  id: number | string;
  password: string;
  last_login: Date | null;
  email: string | null;
}

const KEY_SALT = 'django.contrib.auth.tokens.PasswordResetTokenGenerator';
const EPOCH_2001 = Date.UTC(2001, 0, 1);

/**
 * Django's PasswordResetTokenGenerator, byte for byte, so links made by either side work on the
 * other: `<base36 seconds since 2001-01-01>-<every other hex digit of an HMAC>`. The HMAC covers the
 * password hash and last login, so the token is single-use (using it changes the password) and dies
 * when the user logs in; it expires after `timeoutSeconds` (PASSWORD_RESET_TIMEOUT).
 */
export class PasswordResetTokenGenerator {
  constructor(
    private readonly secret: string,
    private readonly timeoutSeconds: number,
    private readonly fallbacks: string[] = [],
  ) {}

  makeToken(user: ResetTokenUser, now = Date.now()): string {
    return this.makeTokenWithTimestamp(user, numSeconds(now), this.secret);
  }

  checkToken(user: ResetTokenUser | null, token: unknown, now = Date.now()): boolean {
    if (!user || typeof token !== 'string' || !token) return false;
    const parts = token.split('-');
    if (parts.length !== 2) return false;
    const [tsB36 = ''] = parts;
    // Django's base36_to_int refuses more than 13 digits (anything larger overflows a 64-bit int).
    if (!/^[0-9a-z]{1,13}$/i.test(tsB36)) return false;
    const ts = parseInt(tsB36, 36);
    if (!Number.isSafeInteger(ts)) return false;
    const matches = [this.secret, ...this.fallbacks].some((secret) => constantTimeEqual(this.makeTokenWithTimestamp(user, ts, secret), token));
    if (!matches) return false;
    return numSeconds(now) - ts <= this.timeoutSeconds;
  }

  private makeTokenWithTimestamp(user: ResetTokenUser, timestamp: number, secret: string): string {
    const hash = saltedHmac(KEY_SALT, makeHashValue(user, timestamp), secret);
    let every2nd = '';
    for (let i = 0; i < hash.length; i += 2) every2nd += hash[i];
    return `${timestamp.toString(36)}-${every2nd}`;
  }
}

/** Django's _make_hash_value: pk, password hash, last login (to the second, naive UTC), timestamp, email. */
function makeHashValue(user: ResetTokenUser, timestamp: number): string {
  const loginTimestamp = user.last_login === null ? '' : pythonDatetime(user.last_login);
  return `${user.id}${user.password}${loginTimestamp}${timestamp}${user.email ?? ''}`;
}

/** str(datetime.replace(microsecond=0, tzinfo=None)) of a UTC datetime: `2024-05-01 13:45:09`. */
function pythonDatetime(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

function numSeconds(ms: number): number {
  return Math.floor((ms - EPOCH_2001) / 1000);
}

/** Django's urlsafe_base64_encode(force_bytes(pk)): base64url without padding. */
export function encodeUid(id: number | string): string {
  return Buffer.from(String(id), 'utf8').toString('base64url');
}

/** The inverse; null for anything that does not decode to a positive integer id. */
export function decodeUid(uid: unknown): number | null {
  if (typeof uid !== 'string' || !/^[A-Za-z0-9_-]{1,16}$/.test(uid)) return null;
  const text = Buffer.from(uid, 'base64url').toString('utf8');
  if (!/^[1-9][0-9]{0,15}$/.test(text)) return null;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : null;
}
