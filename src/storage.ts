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
import { pgChangeChannel, redisChangeChannel, sqliteChangeProbe, type ChangeChannel, type ChangeHandlers } from './auth/change-channel.js';

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
 *
 * Without a channel (SQLite, MySQL) the auth cache relies on its TTL, and on SQLite on the file's
 * change counter too (`changeProbe`), whatever the profile.
 */
export interface Storage {
  sessions: SessionStore;
  throttle: ThrottleStore;
  refreshTokens: RefreshTokenStore;
  /** The shared Redis connection of the Redis profiles (the change channel uses it too). */
  redis: RedisHandle | null;
  /** Side-by-side with Django: the users mirror their password hashes into Django's database. */
  django: DjangoSessionStore | null;
  /**
   * Opens the channel on which the instances sharing these stores tell each other about changed
   * users and rotated signing keys (src/auth/change-channel.ts), or gives null where the profile has
   * none. With `listen` false the channel only tells the others (this instance has no cache to keep).
   */
  openChangeChannel(handlers: ChangeHandlers, listen: boolean): Promise<ChangeChannel | null>;
  /** On SQLite: a check that notices other processes' commits to the file (sqliteChangeProbe); null elsewhere. */
  changeProbe(forgetAll: () => void): ((now: number) => void) | null;
}

export async function openStorage(config: PortcullisConfig, database: DatabaseHandle): Promise<Storage> {
  const profile = config.sessionStore;
  const changeProbe = (forgetAll: () => void) => (database.sqlite ? sqliteChangeProbe(database.sqlite, forgetAll) : null);
  if (isRedisUrl(profile)) {
    const redis = await connectRedis(profile, config.redisPrefix);
    return {
      sessions: new RedisSessionStore(redis, config.secretKey),
      throttle: new RedisThrottleStore(redis.client, redis.prefix),
      refreshTokens: new RedisRefreshTokenStore(redis, config.secretKey),
      redis,
      django: null,
      openChangeChannel: (handlers, listen) => redisChangeChannel(redis, handlers, listen),
      changeProbe,
    };
  }
  const { pg } = database;
  const sql = {
    throttle: new SqlThrottleStore(database),
    refreshTokens: new SqlRefreshTokenStore(database),
    redis: null,
    openChangeChannel: async (handlers: ChangeHandlers, listen: boolean) => (pg ? pgChangeChannel(config.databaseUrl, pg, handlers, listen) : null),
    changeProbe,
  };
  if (profile === 'database') return { ...sql, sessions: new SqlSessionStore(database, Object.keys(config.userFields)), django: null };
  if (profile === 'cookie') return { ...sql, sessions: new CookieSessionStore(config.secretKey), django: null };
  if (profile === 'django') {
    const django = await openDjangoSessionStore(config, database);
    return { ...sql, sessions: django, django };
  }
  throw new ConfigError(`PORTCULLIS_SESSION_STORE "${profile}" is not known; use database, redis://HOST:PORT, redis-cluster://HOST:PORT,HOST:PORT, cookie or django.`);
}
