import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import type { RedisHandle } from '../redis.js';

/**
 * How the instances sharing a store tell each other that a user changed (a logout, a password
 * change, a deactivation, a revoked session, an edited profile), so that each one's auth cache forgets
 * that user at once instead of within PORTCULLIS_AUTH_CACHE_MS:
 *
 * - Redis (the session store is redis:// or redis-cluster://): PUBLISH / SUBSCRIBE on one channel
 *   under the key prefix;
 * - PostgreSQL (the database, with SQL sessions): NOTIFY / LISTEN on a dedicated connection;
 * - SQLite: no channel, the file's own change counter (sqliteChangeProbe).
 *
 * Every change is published before the request that made it is answered, so by the time a browser
 * hears "logged out" the message is on its way to every other instance. While an instance cannot
 * hear the channel (starting, or its connection lost) its cache answers nothing, and once it hears
 * again it forgets everything it held: a message missed meanwhile cannot leave a stale entry behind.
 * The TTL stays as the bound for what no channel carries (a writer that is not portcullis).
 */
export interface ChangeChannel {
  /** Tells the other instances that this user changed. Never throws: the TTL still bounds a lost message. */
  publish(userId: number): Promise<void>;
  /** Whether changes made elsewhere reach this instance right now. */
  readonly listening: boolean;
  close(): Promise<void>;
}

export interface ChangeHandlers {
  /** Another instance changed this user. */
  forgetUser(userId: number): void;
  /** Changes may have been missed (the channel was lost, or has just come back). */
  forgetAll(): void;
  /** The channel was lost or came back; `reason` says why it was lost. */
  state(listening: boolean, reason?: string): void;
}

/** Messages are `<instance id> <user id>`, so an instance ignores its own. */
function codec(handlers: ChangeHandlers) {
  const self = randomBytes(9).toString('base64url');
  return {
    encode: (userId: number) => `${self} ${userId}`,
    receive(message: string) {
      const [origin, id] = message.split(' ');
      const userId = Number(id);
      if (origin !== self && Number.isSafeInteger(userId)) handlers.forgetUser(userId);
    },
  };
}

/** Listening state shared by both kinds: a change of state forgets everything and is reported once. */
function listeningState(handlers: ChangeHandlers) {
  let listening = false;
  return {
    get listening() {
      return listening;
    },
    set(next: boolean, reason?: string) {
      if (next === listening) return;
      // Forget on both edges: entries admitted while deaf, and whatever a missed message was about.
      handlers.forgetAll();
      listening = next;
      handlers.state(next, reason);
    },
  };
}

const WAIT_FOR_FIRST_MS = 3000;

/** Waits for `ready()` to turn true, at most `ms`: start-up goes on regardless, with the cache off until then. */
async function waitUntil(ready: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!ready() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * Redis: a subscriber connection of its own (a connection in subscribe mode can issue nothing else),
 * opened again (after 100 ms, growing to 2 s) whenever it ends, and counted as listening only once
 * Redis confirmed the subscription. On a Cluster it goes to one node picked afresh each time: a
 * PUBLISH reaches the subscribers of every node. (ioredis's own Cluster subscriber moves to another
 * node silently, and a subscriber that cannot tell it was gone cannot forget what it missed.)
 */
export async function redisChangeChannel(redis: RedisHandle, handlers: ChangeHandlers): Promise<ChangeChannel> {
  const channel = `${redis.prefix}auth-changes`;
  // Named, so that CLIENT LIST shows what the connection is for (and a test can cut exactly this one).
  const connectionName = `portcullis-auth-changes:${redis.prefix}`.replace(/[^\x21-\x7e]/g, '_');
  const { encode, receive } = codec(handlers);
  const state = listeningState(handlers);
  const shared = redis.client;
  let closed = false;
  let subscriber: Redis | null = null;
  let retry: NodeJS.Timeout | null = null;
  let delay = 100;

  const connection = (): Redis | null => {
    const own = { connectionName, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 };
    if (!(shared instanceof Cluster)) return shared.duplicate(own);
    const nodes = shared.nodes('all');
    const node = nodes[Math.floor(Math.random() * nodes.length)];
    if (!node) return null;
    return new Redis({ ...shared.options.redisOptions, host: node.options.host, port: node.options.port, ...own });
  };

  const lost = (conn: Redis, reason: string) => {
    if (subscriber !== conn) return;
    subscriber = null;
    conn.removeAllListeners();
    conn.on('error', () => {});
    conn.disconnect();
    state.set(false, reason);
    if (!closed && retry === null) {
      retry = setTimeout(() => {
        retry = null;
        open();
      }, delay);
      delay = Math.min(delay * 2, 2000);
    }
  };

  const open = () => {
    if (closed) return;
    const conn = connection();
    if (!conn) {
      state.set(false, 'no Redis Cluster node known yet');
      retry = setTimeout(() => {
        retry = null;
        open();
      }, delay);
      return;
    }
    subscriber = conn;
    conn.on('error', () => {});
    conn.on('message', (ch: string, message: string) => {
      if (ch === channel) receive(message);
    });
    conn.once('end', () => lost(conn, 'Redis subscriber connection ended'));
    conn
      .connect()
      .then(() => conn.subscribe(channel))
      .then(() => {
        if (subscriber !== conn || closed) return;
        delay = 100;
        state.set(true);
      })
      .catch((err: Error) => lost(conn, `Redis subscriber: ${err.message}`));
  };

  open();
  await waitUntil(() => state.listening, WAIT_FOR_FIRST_MS);
  return {
    get listening() {
      return !closed && state.listening;
    },
    async publish(userId) {
      try {
        await shared.publish(channel, encode(userId));
      } catch {
        // Redis is away: the store write before this failed too, or will; the TTL bounds the rest.
      }
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const last = subscriber;
      subscriber = null;
      if (last) {
        last.removeAllListeners();
        last.on('error', () => {});
        last.disconnect();
      }
    },
  };
}

const PG_CHANNEL = 'portcullis_auth_changes';

/**
 * PostgreSQL: NOTIFY through the pool, LISTEN on a client of its own that is opened again (after
 * 100 ms, growing to 2 s) whenever it is lost. Behind a transaction-pooling PgBouncer LISTEN does not
 * work; point `databaseUrl` at PostgreSQL itself or the cache falls back to its TTL.
 */
export async function pgChangeChannel(connectionString: string, pool: pg.Pool, handlers: ChangeHandlers): Promise<ChangeChannel> {
  const { encode, receive } = codec(handlers);
  const state = listeningState(handlers);
  let closed = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  let delay = 100;

  const lost = (reason: string) => {
    state.set(false, reason);
    const dead = client;
    client = null;
    dead?.removeAllListeners();
    dead?.on('error', () => {});
    dead?.end().catch(() => {});
    if (!closed && retry === null) {
      retry = setTimeout(() => {
        retry = null;
        void open();
      }, delay);
      delay = Math.min(delay * 2, 2000);
    }
  };

  const open = async () => {
    if (closed) return;
    const next = new pg.Client({ connectionString, connectionTimeoutMillis: 5000, keepAlive: true });
    client = next;
    next.on('error', (err: Error) => lost(`PostgreSQL listener: ${err.message}`));
    next.on('end', () => lost('PostgreSQL listener connection ended'));
    next.on('notification', (msg) => {
      if (msg.channel === PG_CHANNEL && msg.payload) receive(msg.payload);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${PG_CHANNEL}`);
      if (client !== next || closed) return;
      delay = 100;
      state.set(true);
    } catch (err) {
      if (client === next) lost(`PostgreSQL listener: ${(err as Error).message}`);
    }
  };

  await open();
  await waitUntil(() => state.listening, WAIT_FOR_FIRST_MS);
  return {
    get listening() {
      return !closed && state.listening;
    },
    async publish(userId) {
      try {
        await pool.query('SELECT pg_notify($1, $2)', [PG_CHANNEL, encode(userId)]);
      } catch {
        // The database is away: the TTL bounds what another instance may still serve.
      }
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const last = client;
      client = null;
      if (last) {
        last.removeAllListeners();
        last.on('error', () => {});
        await last.end().catch(() => {});
      }
    },
  };
}

/**
 * SQLite has no channel, but the file says when another connection (the CLI, a second server on the
 * same file) committed anything: PRAGMA data_version moves, while this connection's own commits leave
 * it alone. The returned check runs on the cache's path at most once per millisecond (about 1 µs) and
 * forgets everything when the number moved, since it cannot say which user the write was about.
 */
export function sqliteChangeProbe(sqlite: SQLiteDatabase, forgetAll: () => void): (now: number) => void {
  const statement = sqlite.prepare('PRAGMA data_version').pluck();
  let version: unknown = statement.get();
  let checkedAt = 0;
  return (now) => {
    if (now === checkedAt) return;
    checkedAt = now;
    const current: unknown = statement.get();
    if (current === version) return;
    version = current;
    forgetAll();
  };
}
