import { createHmac, randomBytes } from 'node:crypto';
import { redisCall, scanTargets, type RedisClient, type RedisHandle } from '../redis.js';
import type { DataPatch, SessionData, SessionRecord, SessionStore, UserSessionIndex } from './base.js';
import { generateSessionKey, sha256Hex, type SessionKeyScheme } from './keys.js';

/**
 * Keys handed out by the Redis store are `<tag>.<256 random bits>`. The tag is derived from the user
 * id, so every key of one user carries the same `{tag}` hash tag and lands in one Redis Cluster slot:
 * "end every session of this user" stays a single script on a single node. Anonymous sessions get a
 * random tag. The tag reveals nothing: it is an HMAC of the id under the secret key.
 */
export function redisKeyScheme(secret: string): SessionKeyScheme & { tagFor(userId: number): string } {
  const tagFor = (userId: number) => createHmac('sha256', secret).update(`session-tag:${userId}`).digest('base64url').slice(0, 12);
  const shape = /^[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43}$/;
  return {
    tagFor,
    generate: (userId) => `${userId === null ? randomBytes(9).toString('base64url') : tagFor(userId)}.${generateSessionKey()}`,
    isWellFormed: (key) => shape.test(key),
    storageId: (key) => `${key.slice(0, 12)}.${sha256Hex(key)}`,
  };
}

// A session is a hash; these short field names keep each one small.
type Fields = Record<string, string>;

/** Each data key is a field of its own (`d:<key>`), so concurrent writes of different keys never collide. */
function toFields(r: SessionRecord): Fields {
  const data = Object.fromEntries(Object.entries(r.data).map(([k, v]) => ['d:' + k, JSON.stringify(v)]));
  return {
    ...data,
    pid: r.publicId,
    uid: r.userId === null ? '' : String(r.userId),
    be: r.backend ?? '',
    ah: r.authHash ?? '',
    c: String(r.createdAt),
    l: String(r.lastSeenAt),
    e: String(r.expiresAt),
    per: r.persistent ? '1' : '0',
    ip: r.ip ?? '',
    ua: r.userAgent ?? '',
  };
}

function fromFields(storageId: string, f: Fields): SessionRecord {
  return {
    keyHash: storageId,
    publicId: f.pid ?? '',
    userId: f.uid ? Number(f.uid) : null,
    backend: f.be || null,
    authHash: f.ah || null,
    data: Object.fromEntries(
      Object.entries(f)
        .filter(([k]) => k.startsWith('d:'))
        .map(([k, v]) => [k.slice(2), JSON.parse(v) as unknown]),
    ) as SessionData,
    createdAt: Number(f.c),
    lastSeenAt: Number(f.l),
    expiresAt: Number(f.e),
    persistent: f.per === '1',
    ip: f.ip || null,
    userAgent: f.ua || null,
  };
}

// KEYS[1] session, KEYS[2] user index (may be absent); ARGV[1] expiresAt, ARGV[2] storageId, ARGV[3] now, then field pairs.
const CREATE = `
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
if KEYS[2] then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl < 0 or ttl < tonumber(ARGV[1]) - tonumber(ARGV[3]) then redis.call('PEXPIREAT', KEYS[2], ARGV[1]) end
end
return 1`;

// Writes fields only to a session that still exists: a touch must never resurrect a deleted one.
const UPDATE_IF_EXISTS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`;

// KEYS[1] session; ARGV[1] '1' to clear, ARGV[2] n deletes, then n field names, then field/value pairs.
const PATCH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '1' then
  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(f, 1, 2) == 'd:' then redis.call('HDEL', KEYS[1], f) end
  end
end
local n = tonumber(ARGV[2])
for i = 3, 2 + n do redis.call('HDEL', KEYS[1], ARGV[i]) end
if #ARGV > 2 + n then redis.call('HSET', KEYS[1], unpack(ARGV, 3 + n)) end
return 1`;

// KEYS[1] session; ARGV[1] the index key prefix (user id appended), ARGV[2] storageId.
const DELETE = `
local uid = redis.call('HGET', KEYS[1], 'uid')
redis.call('DEL', KEYS[1])
if uid and uid ~= '' then redis.call('ZREM', ARGV[1] .. uid, ARGV[2]) end
return 1`;

// KEYS[1] user index; ARGV[1] session key prefix (with hash tag), ARGV[2] storageId to keep ('' for none).
const DELETE_FOR_USER = `
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = 0
for _, id in ipairs(members) do
  if id ~= ARGV[2] then
    n = n + redis.call('DEL', ARGV[1] .. id)
    redis.call('ZREM', KEYS[1], id)
  end
end
return n`;

// KEYS[1] user index; ARGV[1] session key prefix, ARGV[2] old auth hash, ARGV[3] new.
const REHASH = `
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local k = ARGV[1] .. id
  if redis.call('HGET', k, 'ah') == ARGV[2] then redis.call('HSET', k, 'ah', ARGV[3]) end
end
return 1`;

/**
 * Sessions in Redis for deployments with several instances: one hash per session with a TTL equal to
 * its expiry, and a per-user sorted set (scored by expiry) as the index that makes "end every session
 * of this user" one operation.
 */
export class RedisSessionStore implements SessionStore, UserSessionIndex {
  readonly name = 'redis';
  readonly keyScheme: ReturnType<typeof redisKeyScheme>;
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(handle: RedisHandle, secret: string) {
    this.redis = handle.client;
    this.prefix = handle.prefix;
    this.keyScheme = redisKeyScheme(secret);
  }

  private tagOf(storageId: string): string {
    return storageId.slice(0, 12);
  }

  private sessionKey(storageId: string): string {
    return `${this.prefix}{${this.tagOf(storageId)}}:s:${storageId}`;
  }

  private sessionPrefix(tag: string): string {
    return `${this.prefix}{${tag}}:s:`;
  }

  private indexPrefix(tag: string): string {
    return `${this.prefix}{${tag}}:u:`;
  }

  private indexKey(userId: number): string {
    return this.indexPrefix(this.keyScheme.tagFor(userId)) + userId;
  }

  async create(r: SessionRecord): Promise<void> {
    const fields = Object.entries(toFields(r)).flat();
    const keys = r.userId === null ? [this.sessionKey(r.keyHash)] : [this.sessionKey(r.keyHash), this.indexKey(r.userId)];
    await redisCall(() => this.redis.eval(CREATE, keys.length, ...keys, String(r.expiresAt), r.keyHash, String(Date.now()), ...fields));
  }

  async get(storageId: string, now: number): Promise<SessionRecord | null> {
    const fields = await redisCall(() => this.redis.hgetall(this.sessionKey(storageId)));
    if (!fields.pid) return null;
    const record = fromFields(storageId, fields);
    return record.expiresAt > now ? record : null;
  }

  async touch(storageId: string, lastSeenAt: number, expiresAt?: number): Promise<void> {
    const key = this.sessionKey(storageId);
    const args = expiresAt === undefined ? ['l', String(lastSeenAt)] : ['l', String(lastSeenAt), 'e', String(expiresAt)];
    await redisCall(() => this.redis.eval(UPDATE_IF_EXISTS, 1, key, ...args));
    if (expiresAt !== undefined) await redisCall(() => this.redis.pexpireat(key, expiresAt));
  }

  async patchData(storageId: string, patch: DataPatch): Promise<void> {
    const deletes = (patch.delete ?? []).map((k) => 'd:' + k);
    const sets = Object.entries(patch.set ?? {}).flatMap(([k, v]) => ['d:' + k, JSON.stringify(v)]);
    await redisCall(() => this.redis.eval(PATCH, 1, this.sessionKey(storageId), patch.clear ? '1' : '0', String(deletes.length), ...deletes, ...sets));
  }

  async setExpiry(storageId: string, expiresAt: number, persistent: boolean): Promise<void> {
    const key = this.sessionKey(storageId);
    const updated = await redisCall(() => this.redis.eval(UPDATE_IF_EXISTS, 1, key, 'e', String(expiresAt), 'per', persistent ? '1' : '0'));
    if (Number(updated)) await redisCall(() => this.redis.pexpireat(key, expiresAt));
  }

  async delete(storageId: string): Promise<void> {
    const tag = this.tagOf(storageId);
    await redisCall(() => this.redis.eval(DELETE, 1, this.sessionKey(storageId), this.indexPrefix(tag), storageId));
  }

  async listForUser(userId: number, now: number): Promise<SessionRecord[]> {
    const ids = await redisCall(() => this.redis.zrangebyscore(this.indexKey(userId), `(${now}`, '+inf'));
    if (!ids.length) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.sessionKey(id));
    const results = (await redisCall(() => pipeline.exec())) ?? [];
    const records: SessionRecord[] = [];
    results.forEach(([err, fields], i) => {
      const f = fields as Fields;
      if (!err && f?.pid) records.push(fromFields(ids[i]!, f));
    });
    return records.filter((r) => r.expiresAt > now).sort((a, b) => b.lastSeenAt - a.lastSeenAt);
  }

  async deleteByPublicId(userId: number, publicId: string): Promise<boolean> {
    const match = (await this.listForUser(userId, Date.now())).find((r) => r.publicId === publicId);
    if (!match) return false;
    await this.delete(match.keyHash);
    return true;
  }

  async deleteForUser(userId: number, exceptStorageId?: string): Promise<number> {
    const tag = this.keyScheme.tagFor(userId);
    const n = await redisCall(() => this.redis.eval(DELETE_FOR_USER, 1, this.indexKey(userId), this.sessionPrefix(tag), exceptStorageId ?? ''));
    return Number(n);
  }

  async updateAuthHash(userId: number, oldHash: string, newHash: string): Promise<void> {
    const tag = this.keyScheme.tagFor(userId);
    await redisCall(() => this.redis.eval(REHASH, 1, this.indexKey(userId), this.sessionPrefix(tag), oldHash, newHash));
  }

  /** Redis expires sessions itself; this only prunes index entries of sessions already gone (on every cluster primary). */
  async clearExpired(now: number): Promise<number> {
    let pruned = 0;
    for (const node of scanTargets(this.redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await redisCall(() => node.scan(cursor, 'MATCH', `${this.prefix}{*}:u:*`, 'COUNT', 500));
        cursor = next;
        for (const key of keys) pruned += await redisCall(() => this.redis.zremrangebyscore(key, '-inf', now));
      } while (cursor !== '0');
    }
    return pruned;
  }

  async ping(): Promise<void> {
    await redisCall(() => this.redis.ping());
  }

  async close(): Promise<void> {}
}
