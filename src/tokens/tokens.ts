import { randomBytes } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey } from 'jose';
import type { DatabaseHandle } from '../db/connect.js';
import type { User } from '../users/types.js';
import { SigningKeys, TOKEN_ALG } from './signing-keys.js';
import { SqlRefreshTokenStore, type RefreshTokenStore } from './refresh-store.js';

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
  constructor(readonly reason: 'unknown' | 'expired' | 'revoked' | 'reused') {
    super(`refresh token ${reason}`);
  }
}


/**
 * Stateless access tokens (EdDSA JWTs any service can verify from the JWKS) beside stateful refresh
 * tokens that rotate on every use; presenting a spent one revokes its whole family (theft detection).
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

  async issue(user: User, authHash: string, family?: string, now = Date.now()): Promise<TokenPair> {
    const key = await this.keys.current();
    const access = await new SignJWT({ sah: authHash.slice(0, 16) })
      .setProtectedHeader({ alg: TOKEN_ALG, kid: key.kid, typ: 'at+jwt' })
      .setSubject(String(user.id))
      .setIssuer(this.options.issuer)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(now / 1000) + this.options.accessTokenAge)
      .setJti(randomBytes(12).toString('base64url'))
      .sign(key.privateKey);
    const refresh = this.store.generate(user.id);
    await this.store.insert(refresh, {
      family: family ?? randomBytes(12).toString('base64url'),
      userId: user.id,
      createdAt: now,
      expiresAt: now + this.options.refreshTokenAge * 1000,
      usedAt: null,
      revokedAt: null,
    });
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
   * Spends a refresh token and returns the user id it was issued to and its family. Spending is a
   * conditional update, so two concurrent refreshes with one token cannot both succeed.
   */
  async spend(refreshToken: string, now = Date.now()): Promise<{ userId: number; family: string }> {
    const record = await this.store.get(refreshToken);
    if (!record) throw new RefreshError('unknown');
    if (record.revokedAt !== null) throw new RefreshError('revoked');
    if (record.usedAt !== null) {
      await this.store.revokeFamily(record.userId, record.family, now);
      throw new RefreshError('reused');
    }
    if (record.expiresAt <= now) throw new RefreshError('expired');
    // Two refreshes racing with one token: only one spend succeeds, the other is a reuse.
    if (!(await this.store.spend(refreshToken, now))) {
      await this.store.revokeFamily(record.userId, record.family, now);
      throw new RefreshError('reused');
    }
    return { userId: record.userId, family: record.family };
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
