import { ConfigError, type PortcullisConfig } from './config.js';
import type { DatabaseHandle } from './db/connect.js';
import type { SessionStore } from './sessions/base.js';
import { SqlSessionStore } from './sessions/sql.js';
import { RedisSessionStore } from './sessions/redis.js';
import { CookieSessionStore } from './sessions/cookie.js';
import type { DjangoSessionStore } from './django/session-store.js';
import { openDjangoSessionStore } from './django/mode.js';
import { connectRedis, isRedisUrl, type RedisHandle } from './redis.js';
import type { ThrottleStore } from './throttle/base.js';
import { SqlThrottleStore } from './throttle/sql.js';
import { RedisThrottleStore } from './throttle/redis.js';
import { RedisRefreshTokenStore, SqlRefreshTokenStore, type RefreshTokenStore } from './tokens/refresh-store.js';

/**
 * The stores that belong together, built in one place from one storage profile
 * (PORTCULLIS_SESSION_STORE): where sessions live decides where the throttle's counters and the
 * refresh tokens' state live too, and which change channel the instances share.
 *
 * | profile | sessions | throttle, refresh tokens | change channel |
 * |---|---|---|---|
 * | `database` | SQL table | SQL tables | PostgreSQL LISTEN/NOTIFY when the database is PostgreSQL |
 * | `redis://…`, `redis-cluster://…` | Redis | Redis | Redis pub/sub |
 * | `cookie` | the signed cookie itself | SQL tables | as `database` |
 * | `django` | Django's django_session table | SQL tables | as `database` |
 */
export interface Storage {
  sessions: SessionStore;
  throttle: ThrottleStore;
  refreshTokens: RefreshTokenStore;
  /** The shared Redis connection of the Redis profiles (the change channel uses it too). */
  redis: RedisHandle | null;
  /** Side-by-side with Django: the users mirror their password hashes into Django's database. */
  django: DjangoSessionStore | null;
}

export async function openStorage(config: PortcullisConfig, database: DatabaseHandle): Promise<Storage> {
  const profile = config.sessionStore;
  if (isRedisUrl(profile)) {
    const redis = await connectRedis(profile, config.redisPrefix);
    return {
      sessions: new RedisSessionStore(redis, config.secretKey),
      throttle: new RedisThrottleStore(redis.client, redis.prefix),
      refreshTokens: new RedisRefreshTokenStore(redis, config.secretKey),
      redis,
      django: null,
    };
  }
  const sql = { throttle: new SqlThrottleStore(database), refreshTokens: new SqlRefreshTokenStore(database), redis: null };
  if (profile === 'database') return { ...sql, sessions: new SqlSessionStore(database, Object.keys(config.userFields)), django: null };
  if (profile === 'cookie') return { ...sql, sessions: new CookieSessionStore(config.secretKey), django: null };
  if (profile === 'django') {
    const django = await openDjangoSessionStore(config, database);
    return { ...sql, sessions: django, django };
  }
  throw new ConfigError(`PORTCULLIS_SESSION_STORE "${profile}" is not known; use database, redis://HOST:PORT, redis-cluster://HOST:PORT,HOST:PORT, cookie or django.`);
}
