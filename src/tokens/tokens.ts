import { randomBytes } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey } from 'jose';
import type { DatabaseHandle } from '../db/connect.js';
import type { User } from '../users/types.js';
import { SigningKeys, TOKEN_ALG } from './signing-keys.js';
import { constantTimeEqual } from '../auth/salted-hmac.js';
import { SqlRefreshTokenStore, type RefreshTokenRecord, type RefreshTokenStore } from './refresh-store.js';

export interface TokenOptions {
  secret: string;
  issuer: string;
  /** Seconds an access token lives (default 300). */
  accessTokenAge: number;
  /** Seconds a refresh token lives (default 14 days). */
  refreshTokenAge: number;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface AccessClaims {
  userId: number;
  /** A prefix of the session auth hash at issue: a password change invalidates the token. */
  authHash: string;
  expiresAt: number;
}

/** Why a refresh was refused; `reused` means the whole family was just revoked. */
export class RefreshError extends Error {
  constructor(
    readonly reason: 'unknown' | 'expired' | 'revoked' | 'reused',
    /** The token's user, when the token was known. */
    readonly userId: number | null = null,
  ) {
    super(`refresh token ${reason}`);
  }
}


/**
 * Stateless access tokens (EdDSA JWTs any service can verify from the JWKS) beside stateful refresh
 * tokens that rotate on every use; presenting a spent one revokes its whole family (theft detection).
 *
 * Access tokens are never revoked, by design: they are short-lived (accessTokenAge, 300 s by
 * default). Portcullis re-reads the user on every use, so a password change (the `sah` binding) or a
 * deactivation refuses them at once; a revocation that changes neither (an admin's revoke-sessions,
 * a user's token revoke) leaves the already-issued ones to expire. Services that verify them from the
 * JWKS alone see only the expiry.
 */
export class Tokens {
  readonly keys: SigningKeys;
  private readonly verifyKeys = new Map<string, CryptoKey>();
  private readonly verified = new Map<string, AccessClaims>();

  constructor(
    handle: DatabaseHandle,
    private readonly options: TokenOptions,
    /** Refresh tokens: in the database, or in Redis beside the sessions. */
    private readonly store: RefreshTokenStore = new SqlRefreshTokenStore(handle),
  ) {
    this.keys = new SigningKeys(handle, options.secret, options.accessTokenAge * 1000);
  }

  /** A pair starting a new family, bound to the user's current password through `authHash`. */
  async issue(user: User, authHash: string, now = Date.now()): Promise<TokenPair> {
    const access = await this.signAccess(user, authHash, now);
    const refresh = this.store.generate(user.id);
    await this.store.insert(refresh, this.successorOf(user.id, randomBytes(12).toString('base64url'), authHash.slice(0, 16), now));
    return this.pair(access, refresh);
  }

  private async signAccess(user: User, authHash: string, now: number): Promise<string> {
    const key = await this.keys.current();
    return new SignJWT({ sah: authHash.slice(0, 16) })
      .setProtectedHeader({ alg: TOKEN_ALG, kid: key.kid, typ: 'at+jwt' })
      .setSubject(String(user.id))
      .setIssuer(this.options.issuer)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(now / 1000) + this.options.accessTokenAge)
      .setJti(randomBytes(12).toString('base64url'))
      .sign(key.privateKey);
  }

  private successorOf(userId: number, family: string, authHash: string | null, now: number): RefreshTokenRecord {
    return { family, userId, authHash, createdAt: now, expiresAt: now + this.options.refreshTokenAge * 1000, usedAt: null, revokedAt: null };
  }

  private pair(access: string, refresh: string): TokenPair {
    return { access_token: access, refresh_token: refresh, token_type: 'Bearer', expires_in: this.options.accessTokenAge };
  }

  /** The claims of a valid access token, or null for anything forged, expired or malformed. */
  async verifyAccess(token: string, now = Date.now()): Promise<AccessClaims | null> {
    // A token is immutable: once its signature checked out, only its expiry can change the answer.
    // Revocation does not depend on this cache: every use still re-reads the user (active, same password).
    const known = this.verified.get(token);
    if (known) {
      if (known.expiresAt > now) return known;
      this.verified.delete(token);
    }
    const claims = await this.verifySignature(token);
    if (claims) {
      if (this.verified.size >= 10_000) this.verified.clear();
      this.verified.set(token, claims);
    }
    return claims;
  }

  private async verifySignature(token: string): Promise<AccessClaims | null> {
    try {
      const { kid } = decodeProtectedHeader(token);
      if (typeof kid !== 'string') return null;
      let key = this.verifyKeys.get(kid);
      if (!key) {
        const jwk = await this.keys.verificationKey(kid);
        if (!jwk) return null;
        key = (await importJWK(jwk, TOKEN_ALG)) as CryptoKey;
        this.verifyKeys.set(kid, key);
      }
      const { payload } = await jwtVerify(token, key, { issuer: this.options.issuer, algorithms: [TOKEN_ALG], typ: 'at+jwt' });
      const userId = Number(payload.sub);
      if (!Number.isSafeInteger(userId) || typeof payload.sah !== 'string' || typeof payload.exp !== 'number') return null;
      return { userId, authHash: payload.sah, expiresAt: payload.exp * 1000 };
    } catch {
      return null;
    }
  }

  /**
   * The record of a refresh token that may be rotated now. A spent one is a reuse: its whole family
   * is revoked (theft detection).
   */
  async check(refreshToken: string, now = Date.now()): Promise<RefreshTokenRecord> {
    const record = await this.store.get(refreshToken);
    if (!record) throw new RefreshError('unknown');
    if (record.revokedAt !== null) throw new RefreshError('revoked', record.userId);
    if (record.usedAt !== null) {
      await this.store.revokeFamily(record.userId, record.family, now);
      throw new RefreshError('reused', record.userId);
    }
    if (record.expiresAt <= now) throw new RefreshError('expired', record.userId);
    return record;
  }

  /**
   * Rotates a checked refresh token for its user, read after the check: the old token is spent and
   * a new pair continues the family. The store spends and stores the successor in one step no
   * revocation can split, so a revocation that lands after the user was read either refuses this
   * rotation or revokes the successor with the family. A family issued under another password is
   * refused, whichever order a password change and this rotation ran in.
   */
  async rotate(refreshToken: string, record: RefreshTokenRecord, user: User, authHash: string, now = Date.now()): Promise<TokenPair> {
    if (record.authHash !== null && !constantTimeEqual(record.authHash, authHash.slice(0, 16))) {
      await this.store.revokeFamily(record.userId, record.family, now);
      throw new RefreshError('revoked', record.userId);
    }
    const access = await this.signAccess(user, authHash, now);
    const refresh = this.store.generate(user.id);
    if (!(await this.store.rotate(refreshToken, refresh, this.successorOf(user.id, record.family, record.authHash, now), now))) {
      // Spent by a concurrent refresh (a reuse), or revoked meanwhile: the family ends either way.
      await this.store.revokeFamily(record.userId, record.family, now);
      throw new RefreshError('reused', record.userId);
    }
    return this.pair(access, refresh);
  }

  async revokeFamily(userId: number, family: string, now = Date.now()): Promise<void> {
    await this.store.revokeFamily(userId, family, now);
  }

  /** Revokes the family of this refresh token; unknown tokens are ignored (revocation is idempotent). */
  async revoke(refreshToken: string, now = Date.now()): Promise<void> {
    const record = await this.store.get(refreshToken);
    if (record) await this.store.revokeFamily(record.userId, record.family, now);
  }

  async revokeForUser(userId: number, now = Date.now()): Promise<void> {
    await this.store.revokeForUser(userId, now);
  }

  /** Drops refresh tokens long past expiry (clearsessions). */
  clearExpired(now = Date.now()): Promise<number> {
    return this.store.clearExpired(now);
  }
}
