import { createHash, createHmac } from 'node:crypto';
import type { DataPatch, SessionRecord, SessionStore } from './base.js';
import { constantTimeEqual } from '../auth/salted-hmac.js';
import type { SessionKeyScheme } from './keys.js';

/** Browsers keep about 4 KB per cookie; the signed record must fit with room for the attributes. */
export const COOKIE_SESSION_MAX_BYTES = 3800;

type Draft = Omit<SessionRecord, 'keyHash'>;

/**
 * PORTCULLIS_SESSION_STORE=cookie: the whole session travels in the cookie, signed (HMAC-SHA256 under
 * the secret key) and carrying its own expiry; the server keeps nothing. What that costs: a session
 * cannot be revoked before it expires (logout only asks the browser to forget it), sessions cannot be
 * listed (it has no UserSessionIndex), and every byte of session data rides on every request. A password change or deactivation
 * still ends it, because each request re-checks the user and the session auth hash.
 */
export function cookieKeyScheme(secret: string): SessionKeyScheme {
  const key = createHash('sha256').update('portcullis.sessions.cookie:' + secret).digest();
  const sign = (body: string) => createHmac('sha256', key).update(body).digest('base64url');
  return {
    generate(_userId, draft?: Draft) {
      if (!draft) throw new Error('the cookie store needs the session record to sign');
      const body = Buffer.from(JSON.stringify(draft)).toString('base64url');
      const value = `c1.${body}.${sign(body)}`;
      if (value.length > COOKIE_SESSION_MAX_BYTES) throw new RangeError(`a cookie session would be ${value.length} bytes, over ${COOKIE_SESSION_MAX_BYTES}`);
      return value;
    },
    isWellFormed(value) {
      if (value.length > COOKIE_SESSION_MAX_BYTES || !value.startsWith('c1.')) return false;
      const [, body = '', mac = ''] = value.split('.');
      return /^[A-Za-z0-9_-]+$/.test(body) && constantTimeEqual(mac, sign(body));
    },
    // The signed value is its own identity: there is nothing else to look it up by.
    storageId: (value) => value,
  };
}

export class CookieSessionStore implements SessionStore {
  readonly name = 'cookie';
  readonly keyScheme: SessionKeyScheme;
  /** Sessions are immutable values: any change means a new cookie. */
  readonly immutable = true;
  readonly maxDataBytes = 2500;

  constructor(secret: string) {
    this.keyScheme = cookieKeyScheme(secret);
  }

  async create(): Promise<void> {}

  async get(value: string, now: number): Promise<SessionRecord | null> {
    if (!this.keyScheme.isWellFormed(value)) return null;
    try {
      const draft = JSON.parse(Buffer.from(value.split('.')[1]!, 'base64url').toString('utf8')) as Draft;
      return draft.expiresAt > now ? { ...draft, keyHash: value } : null;
    } catch {
      return null;
    }
  }

  // The value cannot change in place: Sessions issues a new cookie for every change (`immutable`),
  // and what a browser keeps, the server cannot take back or sweep.
  async touch(): Promise<void> {}
  async patchData(_id: string, _patch: DataPatch): Promise<void> {}
  async setExpiry(): Promise<void> {}
  async delete(): Promise<void> {}
  async clearExpired(): Promise<number> {
    return 0;
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

