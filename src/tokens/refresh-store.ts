import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { DatabaseHandle } from '../db/connect.js';
import { redisCall, type RedisClient, type RedisHandle } from '../redis.js';

export interface RefreshTokenRecord {
  family: string;
  userId: number;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  revokedAt: number | null;
}

/**
 * Where refresh tokens live: only their hashes, with the family they descend from. Spending is a
 * compare-and-set, so one token can never be spent twice, even by two instances at once.
 */
export interface RefreshTokenStore {
  /** A new token for this user; the store chooses its shape. */
  generate(userId: number): string;
  insert(token: string, record: RefreshTokenRecord): Promise<void>;
  get(token: string): Promise<RefreshTokenRecord | null>;
  /** Marks the token spent; false when it was already spent or revoked. */
  spend(token: string, now: number): Promise<boolean>;
  revokeFamily(userId: number, family: string, now: number): Promise<void>;
  revokeForUser(userId: number, now: number): Promise<void>;
  clearExpired(now: number): Promise<number>;
}

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

export class SqlRefreshTokenStore implements RefreshTokenStore {
  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  generate(): string {
    return randomBytes(32).toString('base64url');
  }

  async insert(token: string, r: RefreshTokenRecord): Promise<void> {
    await this.db
      .insertInto('portcullis_refresh_token')
      .values({ token_hash: sha256(token), family_id: r.family, user_id: r.userId, created_at: r.createdAt, expires_at: r.expiresAt, used_at: r.usedAt, revoked_at: r.revokedAt })
      .execute();
  }

  async get(token: string): Promise<RefreshTokenRecord | null> {
    const row = await this.db.selectFrom('portcullis_refresh_token').selectAll().where('token_hash', '=', sha256(token)).executeTakeFirst();
    if (!row) return null;
    return {
      family: row.family_id,
      userId: Number(row.user_id),
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
      usedAt: row.used_at === null ? null : Number(row.used_at),
      revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
    };
  }

  async spend(token: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('portcullis_refresh_token')
      .set({ used_at: now })
      .where('token_hash', '=', sha256(token))
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async revokeFamily(_userId: number, family: string, now: number): Promise<void> {
    await this.db.updateTable('portcullis_refresh_token').set({ revoked_at: now }).where('family_id', '=', family).where('revoked_at', 'is', null).execute();
  }

  async revokeForUser(userId: number, now: number): Promise<void> {
    await this.db.updateTable('portcullis_refresh_token').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  }

  async clearExpired(now: number): Promise<number> {
    const result = await this.db.deleteFrom('portcullis_refresh_token').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

// KEYS[1] token; ARGV[1] now. Spend only a token neither spent nor revoked.
const SPEND = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local f = redis.call('HMGET', KEYS[1], 'used', 'rev')
if f[1] ~= '' or f[2] ~= '' then return 0 end
redis.call('HSET', KEYS[1], 'used', ARGV[1])
return 1`;

// KEYS[1] family set; ARGV[1] token key prefix, ARGV[2] now.
const REVOKE_FAMILY = `
for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[1] .. h
  if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, 'rev', ARGV[2]) end
end
return 1`;

// KEYS[1] user's family set; ARGV[1] family key prefix, ARGV[2] token key prefix, ARGV[3] now.
const REVOKE_USER = `
for _, fam in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  for _, h in ipairs(redis.call('SMEMBERS', ARGV[1] .. fam)) do
    local k = ARGV[2] .. h
    if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, 'rev', ARGV[3]) end
  end
end
return 1`;

/**
 * Refresh tokens in the same Redis as the sessions. Tokens are `<tag>.<random>`, the tag an HMAC of
 * the user id, so a user's tokens, families and index share one `{tag}` and one Cluster slot, and
 * "revoke every token of this user" is one script. Each key expires with the token it describes.
 */
export class RedisRefreshTokenStore implements RefreshTokenStore {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(
    handle: RedisHandle,
    private readonly secret: string,
  ) {
    this.redis = handle.client;
    this.prefix = handle.prefix;
  }

  private tagFor(userId: number): string {
    return createHmac('sha256', this.secret).update(`refresh-tag:${userId}`).digest('base64url').slice(0, 12);
  }

  private base(tag: string): string {
    return `${this.prefix}{${tag}}:`;
  }

  private tokenKey(token: string): string | null {
    const tag = token.slice(0, 12);
    return /^[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43}$/.test(token) ? `${this.base(tag)}rt:${sha256(token)}` : null;
  }

  generate(userId: number): string {
    return `${this.tagFor(userId)}.${randomBytes(32).toString('base64url')}`;
  }

  async insert(token: string, r: RefreshTokenRecord): Promise<void> {
    const base = this.base(this.tagFor(r.userId));
    const key = this.tokenKey(token)!;
    const family = `${base}rtf:${r.family}`;
    const user = `${base}rtu:${r.userId}`;
    await redisCall(() =>
      this.redis
        .multi()
        .hset(key, { fam: r.family, uid: String(r.userId), c: String(r.createdAt), e: String(r.expiresAt), used: '', rev: '' })
        .pexpireat(key, r.expiresAt)
        .sadd(family, sha256(token))
        .pexpireat(family, r.expiresAt)
        .sadd(user, r.family)
        .pexpireat(user, r.expiresAt)
        .exec(),
    );
  }

  async get(token: string): Promise<RefreshTokenRecord | null> {
    const key = this.tokenKey(token);
    if (!key) return null;
    const f = await redisCall(() => this.redis.hgetall(key));
    if (!f.fam) return null;
    return {
      family: f.fam,
      userId: Number(f.uid),
      createdAt: Number(f.c),
      expiresAt: Number(f.e),
      usedAt: f.used ? Number(f.used) : null,
      revokedAt: f.rev ? Number(f.rev) : null,
    };
  }

  async spend(token: string, now: number): Promise<boolean> {
    const key = this.tokenKey(token);
    if (!key) return false;
    return Number(await redisCall(() => this.redis.eval(SPEND, 1, key, String(now)))) === 1;
  }

  async revokeFamily(userId: number, family: string, now: number): Promise<void> {
    const base = this.base(this.tagFor(userId));
    await redisCall(() => this.redis.eval(REVOKE_FAMILY, 1, `${base}rtf:${family}`, `${base}rt:`, String(now)));
  }

  async revokeForUser(userId: number, now: number): Promise<void> {
    const base = this.base(this.tagFor(userId));
    await redisCall(() => this.redis.eval(REVOKE_USER, 1, `${base}rtu:${userId}`, `${base}rtf:`, `${base}rt:`, String(now)));
  }

  /** Redis expires tokens by itself. */
  async clearExpired(): Promise<number> {
    return 0;
  }
}
