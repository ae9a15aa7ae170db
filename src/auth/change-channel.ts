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
 * The same channel carries "the signing keys changed" (`portcullis rotate-keys`), so every instance
 * signs with the new key at once instead of at its next reload of the key table.
 *
 * Every change is published before the request that made it is answered, so by the time a browser
 * hears "logged out" the message is on its way to every other instance. While an instance cannot
 * hear the channel (starting, or its connection lost) its cache answers nothing, and once it hears
 * again it forgets everything it held: a message missed meanwhile cannot leave a stale entry behind.
 * The TTL stays as the bound for what no channel carries (a writer that is not portcullis).
 */
export interface ChangeChannel {
  /** What carries it, for messages: `Redis` (pub/sub) or `PostgreSQL` (LISTEN/NOTIFY). */
  readonly kind: 'Redis' | 'PostgreSQL';
  /** Tells the other instances that this user changed. Never throws: the TTL still bounds a lost message. */
  publish(userId: number): Promise<void>;
  /** Tells the other instances to re-read the signing keys; false if the message could not be sent. */
  announceSigningKeys(): Promise<boolean>;
  /** Whether changes made elsewhere reach this instance right now. */
  readonly listening: boolean;
  close(): Promise<void>;
}

export interface ChangeHandlers {
  /** Another instance changed this user. */
  forgetUser(userId: number): void;
  /** Changes may have been missed (the channel was lost, or has just come back). */
  forgetAll(): void;
  /** Another process rotated the signing keys. */
  signingKeysChanged(): void;
  /** The channel was lost or came back; `reason` says why it was lost. */
  state(listening: boolean, reason?: string): void;
}

const SIGNING_KEYS = 'signing-keys';

/**
 * Messages are `<instance id> <user id>` or `<instance id> signing-keys`, so an instance ignores its
 * own (an older instance reads the second kind as no user, and ignores it).
 */
function codec(handlers: ChangeHandlers) {
  const self = randomBytes(9).toString('base64url');
  return {
    encode: (subject: number | typeof SIGNING_KEYS) => `${self} ${subject}`,
    receive(message: string) {
      const [origin, subject] = message.split(' ');
      if (origin === self) return;
      if (subject === SIGNING_KEYS) return handlers.signingKeysChanged();
      const userId = Number(subject);
      if (Number.isSafeInteger(userId)) handlers.forgetUser(userId);
    },
  };
}

type Encode = ReturnType<typeof codec>['encode'];

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

/** A connection that listens, as each kind makes and drops it. */
interface ListenerKind<C> {
  /** Opens a listening connection; `lost` is to be called if it ever stops. Cleans up after itself if it fails. */
  attach(lost: (reason: string) => void): Promise<C>;
  drop(conn: C): Promise<void>;
}

/**
 * Keeps one listening connection open: opened again whenever it is lost, after 100 ms growing to
 * 2 s; listening only once `attach` resolved (the subscription is confirmed).
 */
function keepListening<C>(state: ReturnType<typeof listeningState>, kind: ListenerKind<C>) {
  let closed = false;
  let current: C | null = null;
  let retry: NodeJS.Timeout | null = null;
  let delay = 100;
  /** Bumped for every attempt and every loss: a late callback of an older connection does nothing. */
  let attempt = 0;

  const open = async (): Promise<void> => {
    if (closed) return;
    const mine = ++attempt;
    const lost = (reason: string) => {
      if (mine !== attempt || closed) return;
      attempt++;
      const dead = current;
      current = null;
      if (dead !== null) void kind.drop(dead);
      state.set(false, reason);
      if (retry === null) {
        retry = setTimeout(() => {
          retry = null;
          void open();
        }, delay);
        delay = Math.min(delay * 2, 2000);
      }
    };
    try {
      const conn = await kind.attach(lost);
      if (mine !== attempt || closed) return void (await kind.drop(conn));
      current = conn;
      delay = 100;
      state.set(true);
    } catch (err) {
      lost((err as Error).message);
    }
  };

  return {
    open,
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const last = current;
      current = null;
      if (last !== null) await kind.drop(last);
    },
  };
}

/**
 * A channel once its listener is started: it waits a moment for the first subscription (start-up
 * goes on regardless, with the cache off until it is confirmed), and publishing never throws, since
 * the store being away already fails the change it would announce, and the TTL bounds the rest.
 * Without a listener (an instance whose own cache is off) it only publishes, for the others.
 */
async function started<C>(
  kind: ChangeChannel['kind'],
  state: ReturnType<typeof listeningState>,
  listener: ReturnType<typeof keepListening<C>> | null,
  send: (message: string) => Promise<unknown>,
  encode: Encode,
): Promise<ChangeChannel> {
  if (listener) {
    await listener.open();
    await waitUntil(() => state.listening, WAIT_FOR_FIRST_MS);
  }
  let closed = false;
  return {
    kind,
    get listening() {
      return !closed && state.listening;
    },
    async publish(userId) {
      try {
        await send(encode(userId));
      } catch {
        // The store is away: see above.
      }
    },
    async announceSigningKeys() {
      try {
        await send(encode(SIGNING_KEYS));
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      closed = true;
      await listener?.close();
    },
  };
}

/**
 * Redis: a subscriber connection of its own (a connection in subscribe mode can issue nothing else).
 * On a Cluster it goes to one node picked afresh each time: a PUBLISH reaches the subscribers of
 * every node. (ioredis's own Cluster subscriber moves to another node silently, and a subscriber
 * that cannot tell it was gone cannot forget what it missed.)
 */
/** The Redis subscriber's connection name, so that CLIENT LIST shows what it is for (and a test can cut it). */
export function subscriberConnectionName(prefix: string): string {
  return `portcullis-auth-changes:${prefix}`.replace(/[^\x21-\x7e]/g, '_');
}

export async function redisChangeChannel(redis: RedisHandle, handlers: ChangeHandlers, listen = true): Promise<ChangeChannel> {
  const channel = `${redis.prefix}auth-changes`;
  const connectionName = subscriberConnectionName(redis.prefix);
  const { encode, receive } = codec(handlers);
  const state = listeningState(handlers);
  const shared = redis.client;

  const connection = (): Redis => {
    const own = { connectionName, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 };
    if (!(shared instanceof Cluster)) return shared.duplicate(own);
    const nodes = shared.nodes('all');
    const node = nodes[Math.floor(Math.random() * nodes.length)];
    if (!node) throw new Error('no Redis Cluster node known yet');
    return new Redis({ ...shared.options.redisOptions, host: node.options.host, port: node.options.port, ...own });
  };
  const drop = async (conn: Redis) => {
    conn.removeAllListeners();
    conn.on('error', () => {});
    conn.disconnect();
  };
  const listener = keepListening<Redis>(state, {
    async attach(lost) {
      const conn = connection();
      conn.on('error', () => {});
      conn.on('message', (ch: string, message: string) => {
        if (ch === channel) receive(message);
      });
      conn.once('end', () => lost('Redis subscriber connection ended'));
      try {
        await conn.connect();
        await conn.subscribe(channel);
        return conn;
      } catch (err) {
        await drop(conn);
        throw new Error(`Redis subscriber: ${(err as Error).message}`, { cause: err });
      }
    },
    drop,
  });

  return started('Redis', state, listen ? listener : null, (message) => shared.publish(channel, message), encode);
}

const PG_CHANNEL = 'portcullis_auth_changes';

/**
 * PostgreSQL: NOTIFY through the pool, LISTEN on a client of its own. Behind a transaction-pooling
 * PgBouncer LISTEN does not work; point `databaseUrl` at PostgreSQL itself or the cache falls back
 * to its TTL.
 */
export async function pgChangeChannel(connectionString: string, pool: pg.Pool, handlers: ChangeHandlers, listen = true): Promise<ChangeChannel> {
  const { encode, receive } = codec(handlers);
  const state = listeningState(handlers);
  const drop = async (client: pg.Client) => {
    client.removeAllListeners();
    client.on('error', () => {});
    await client.end().catch(() => {});
  };
  const listener = keepListening<pg.Client>(state, {
    async attach(lost) {
      const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000, keepAlive: true });
      client.on('error', (err: Error) => lost(`PostgreSQL listener: ${err.message}`));
      client.on('end', () => lost('PostgreSQL listener connection ended'));
      client.on('notification', (msg) => {
        if (msg.channel === PG_CHANNEL && msg.payload) receive(msg.payload);
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${PG_CHANNEL}`);
        return client;
      } catch (err) {
        await drop(client);
        throw new Error(`PostgreSQL listener: ${(err as Error).message}`, { cause: err });
      }
    },
    drop,
  });

  return started('PostgreSQL', state, listen ? listener : null, (message) => pool.query('SELECT pg_notify($1, $2)', [PG_CHANNEL, message]), encode);
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
