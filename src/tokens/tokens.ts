import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey } from 'jose';
import type { DatabaseHandle } from '../db/connect.js';
import type { User } from '../users/types.js';
import { SigningKeys, TOKEN_ALG } from './signing-keys.js';

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

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Stateless access tokens (EdDSA JWTs any service can verify from the JWKS) beside stateful refresh
 * tokens that rotate on every use; presenting a spent one revokes its whole family (theft detection).
 */
export class Tokens {
  readonly keys: SigningKeys;
  private readonly verifyKeys = new Map<string, CryptoKey>();

  constructor(
    private readonly handle: DatabaseHandle,
    private readonly options: TokenOptions,
  ) {
    this.keys = new SigningKeys(handle, options.secret, options.accessTokenAge * 1000);
  }

  private get db() {
    return this.handle.db;
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
    const refresh = randomBytes(32).toString('base64url');
    await this.db
      .insertInto('portcullis_refresh_token')
      .values({
        token_hash: hashToken(refresh),
        family_id: family ?? randomBytes(12).toString('base64url'),
        user_id: user.id,
        created_at: now,
        expires_at: now + this.options.refreshTokenAge * 1000,
        used_at: null,
        revoked_at: null,
      })
      .execute();
    return { access_token: access, refresh_token: refresh, token_type: 'Bearer', expires_in: this.options.accessTokenAge };
  }

  /** The claims of a valid access token, or null for anything forged, expired or malformed. */
  async verifyAccess(token: string): Promise<AccessClaims | null> {
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
    const hash = hashToken(refreshToken);
    const row = await this.db.selectFrom('portcullis_refresh_token').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    if (!row) throw new RefreshError('unknown');
    if (row.revoked_at !== null) throw new RefreshError('revoked');
    if (row.used_at !== null) {
      await this.revokeFamily(row.family_id, now);
      throw new RefreshError('reused');
    }
    if (Number(row.expires_at) <= now) throw new RefreshError('expired');
    const spent = await this.db
      .updateTable('portcullis_refresh_token')
      .set({ used_at: now })
      .where('token_hash', '=', hash)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(spent.numUpdatedRows) !== 1) {
      await this.revokeFamily(row.family_id, now);
      throw new RefreshError('reused');
    }
    return { userId: Number(row.user_id), family: row.family_id };
  }

  async revokeFamily(family: string, now = Date.now()): Promise<void> {
    await this.db.updateTable('portcullis_refresh_token').set({ revoked_at: now }).where('family_id', '=', family).where('revoked_at', 'is', null).execute();
  }

  /** Revokes the family of this refresh token; unknown tokens are ignored (revocation is idempotent). */
  async revoke(refreshToken: string, now = Date.now()): Promise<void> {
    const row = await this.db.selectFrom('portcullis_refresh_token').select('family_id').where('token_hash', '=', hashToken(refreshToken)).executeTakeFirst();
    if (row) await this.revokeFamily(row.family_id, now);
  }

  async revokeForUser(userId: number, now = Date.now()): Promise<void> {
    await this.db.updateTable('portcullis_refresh_token').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  }

  /** Drops refresh tokens long past expiry (clearsessions). */
  async clearExpired(now = Date.now()): Promise<number> {
    const result = await this.db.deleteFrom('portcullis_refresh_token').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
