import { createHash, createHmac, randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { DatabaseHandle } from '../db/connect.js';
import { retryOnDeadlock } from '../db/portable.js';
import type { Database } from '../db/schema.js';
import { redisCall, type RedisClient, type RedisHandle } from '../redis.js';

export interface RefreshTokenRecord {
  family: string;
  userId: number;
  /** A prefix of the session auth hash the family was issued under: a password change ends it (null: unbound, from before it was recorded). */
  authHash: string | null;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  revokedAt: number | null;
}

/**
 * Where refresh tokens live: only their hashes, with the family they descend from.
 *
 * A revocation is final. Rotation spends a token and stores its successor as one step that a
 * revocation of the family or of the user cannot split: either the revocation comes first, and the
 * token can no longer be spent, or the successor exists by the time the revocation runs and dies with
 * the rest of its family. Spending is also a compare-and-set, so one token is never spent twice, even
 * by two instances at once.
 */
export interface RefreshTokenStore {
  /** A new token for this user; the store chooses its shape. */
  generate(userId: number): string;
  /** The first token of a new family. */
  insert(token: string, record: RefreshTokenRecord): Promise<void>;
  /** A token, with `revokedAt` set when the token or its family is revoked. */
  get(token: string): Promise<RefreshTokenRecord | null>;
  /**
   * Spends `token` and stores `successor` (described by `record`, in the same family) in one step;
   * false, storing nothing, when the token was already spent or its family revoked.
   */
  rotate(token: string, successor: string, record: RefreshTokenRecord, now: number): Promise<boolean>;
  revokeFamily(userId: number, family: string, now: number): Promise<void>;
  revokeForUser(userId: number, now: number): Promise<void>;
  clearExpired(now: number): Promise<number>;
}

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

/** Thrown inside a rotation's transaction to roll it back. */
class RotationRefused extends Error {}

/**
 * Refresh tokens in portcullis_refresh_token, their families in portcullis_refresh_family.
 *
 * The family row is where revocation and rotation meet. A revocation sets its revoked_at (then the
 * tokens' own, for the record); a rotation is one transaction that first updates the same row on
 * condition it is not revoked, then spends the old token and inserts the successor. The row lock
 * orders the two on PostgreSQL and MySQL (SQLite has one writer anyway). And since every read of a
 * token joins its family, a successor is refused once its family is revoked, whatever the isolation
 * level let the revocation's UPDATE see of the token rows.
 *
 * Why a row of its own rather than the tokens' revoked_at alone: an UPDATE of the token rows can miss
 * a successor inserted meanwhile (PostgreSQL's READ COMMITTED re-checks only the rows its snapshot
 * had), and clearExpired would later delete the revoked parent that could have testified against it.
 * A family's revocation has to be recorded once, in a row that outlives all its tokens.
 */
export class SqlRefreshTokenStore implements RefreshTokenStore {
  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  generate(): string {
    return randomBytes(32).toString('base64url');
  }

  async insert(token: string, r: RefreshTokenRecord): Promise<void> {
    // The family first: a token is never without it (a read of a token whose family is gone finds nothing).
    await this.db
      .insertInto('portcullis_refresh_family')
      .values({ family_id: r.family, user_id: r.userId, auth_hash: r.authHash, created_at: r.createdAt, expires_at: r.expiresAt, revoked_at: r.revokedAt })
      .execute();
    await this.insertToken(this.db, token, r);
  }

  private async insertToken(db: Kysely<Database>, token: string, r: RefreshTokenRecord): Promise<void> {
    await db
      .insertInto('portcullis_refresh_token')
      .values({ token_hash: sha256(token), family_id: r.family, user_id: r.userId, created_at: r.createdAt, expires_at: r.expiresAt, used_at: r.usedAt, revoked_at: r.revokedAt })
      .execute();
  }

  async get(token: string): Promise<RefreshTokenRecord | null> {
    const row = await this.db
      .selectFrom('portcullis_refresh_token as t')
      .innerJoin('portcullis_refresh_family as f', 'f.family_id', 't.family_id')
      .select(['t.family_id', 't.user_id', 'f.auth_hash', 't.created_at', 't.expires_at', 't.used_at', 't.revoked_at', 'f.revoked_at as family_revoked_at'])
      .where('t.token_hash', '=', sha256(token))
      .executeTakeFirst();
    if (!row) return null;
    const revokedAt = row.revoked_at ?? row.family_revoked_at;
    return {
      family: row.family_id,
      userId: Number(row.user_id),
      authHash: row.auth_hash,
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
      usedAt: row.used_at === null ? null : Number(row.used_at),
      revokedAt: revokedAt === null ? null : Number(revokedAt),
    };
  }

  async rotate(token: string, successor: string, r: RefreshTokenRecord, now: number): Promise<boolean> {
    try {
      await retryOnDeadlock(() =>
        this.db.transaction().execute(async (trx) => {
          // Locks the family row, as revocations do, and refuses a revoked family; the family
          // lives as long as its newest token.
          const family = await trx
            .updateTable('portcullis_refresh_family')
            .set({ expires_at: sql<number>`case when expires_at < ${r.expiresAt} then ${r.expiresAt} else expires_at end` })
            .where('family_id', '=', r.family)
            .where('revoked_at', 'is', null)
            .executeTakeFirst();
          if (Number(family.numUpdatedRows) !== 1) throw new RotationRefused();
          const spent = await trx
            .updateTable('portcullis_refresh_token')
            .set({ used_at: now })
            .where('token_hash', '=', sha256(token))
            .where('family_id', '=', r.family)
            .where('used_at', 'is', null)
            .where('revoked_at', 'is', null)
            .executeTakeFirst();
          if (Number(spent.numUpdatedRows) !== 1) throw new RotationRefused();
          await this.insertToken(trx, successor, r);
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof RotationRefused) return false;
      throw err;
    }
  }

  // The family rows first, which waits for a rotation holding one; the token rows after, which then
  // include its successor.
  async revokeFamily(_userId: number, family: string, now: number): Promise<void> {
    await this.db.updateTable('portcullis_refresh_family').set({ revoked_at: now }).where('family_id', '=', family).where('revoked_at', 'is', null).execute();
    await this.db.updateTable('portcullis_refresh_token').set({ revoked_at: now }).where('family_id', '=', family).where('revoked_at', 'is', null).execute();
  }

  async revokeForUser(userId: number, now: number): Promise<void> {
    await this.db.updateTable('portcullis_refresh_family').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
    await this.db.updateTable('portcullis_refresh_token').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  }

  async clearExpired(now: number): Promise<number> {
    const result = await this.db.deleteFrom('portcullis_refresh_token').where('expires_at', '<=', now).executeTakeFirst();
    // A family outlives each of its tokens (rotation extends it), so no live token loses its family here.
    await this.db.deleteFrom('portcullis_refresh_family').where('expires_at', '<=', now).execute();
    return Number(result.numDeletedRows);
  }
}

// KEYS[1] token, KEYS[2] successor, KEYS[3] family set, KEYS[4] user's family set; ARGV[1] now,
// ARGV[2] family, ARGV[3] user id, ARGV[4] auth hash, ARGV[5] created, ARGV[6] expires, ARGV[7]
// successor hash. Spends a token neither spent nor revoked and stores its successor, as one step.
const ROTATE = `
local f = redis.call('HMGET', KEYS[1], 'fam', 'used', 'rev')
if f[1] ~= ARGV[2] or f[2] ~= '' or f[3] ~= '' then return 0 end
redis.call('HSET', KEYS[1], 'used', ARGV[1])
redis.call('HSET', KEYS[2], 'fam', ARGV[2], 'uid', ARGV[3], 'ah', ARGV[4], 'c', ARGV[5], 'e', ARGV[6], 'used', '', 'rev', '')
redis.call('PEXPIREAT', KEYS[2], ARGV[6])
redis.call('SADD', KEYS[3], ARGV[7])
redis.call('PEXPIREAT', KEYS[3], ARGV[6])
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('PEXPIREAT', KEYS[4], ARGV[6])
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
 * "revoke every token of this user" is one script. Rotation is one script too, and scripts on one
 * slot run one at a time: a revocation sees the successor, or the rotation sees the revoked token.
 * Each key expires with the token it describes.
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
        .hset(key, { fam: r.family, uid: String(r.userId), ah: r.authHash ?? '', c: String(r.createdAt), e: String(r.expiresAt), used: '', rev: '' })
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
      authHash: f.ah || null,
      createdAt: Number(f.c),
      expiresAt: Number(f.e),
      usedAt: f.used ? Number(f.used) : null,
      revokedAt: f.rev ? Number(f.rev) : null,
    };
  }

  async rotate(token: string, successor: string, r: RefreshTokenRecord, now: number): Promise<boolean> {
    const tag = this.tagFor(r.userId);
    const key = this.tokenKey(token);
    // A token of another user's tag cannot be this user's (and would be another Cluster slot).
    if (!key || token.slice(0, 12) !== tag) return false;
    const base = this.base(tag);
    const keys = [key, this.tokenKey(successor)!, `${base}rtf:${r.family}`, `${base}rtu:${r.userId}`];
    const args = [String(now), r.family, String(r.userId), r.authHash ?? '', String(r.createdAt), String(r.expiresAt), sha256(successor)];
    return Number(await redisCall(() => this.redis.eval(ROTATE, keys.length, ...keys, ...args))) === 1;
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
