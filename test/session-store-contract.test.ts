import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDatabase, type DatabaseHandle } from '../src/db/connect.js';
import { migrate } from '../src/db/migrate.js';
import { connectRedis, type RedisHandle } from '../src/redis.js';
import { hasJoinedUserRead, hasUserIndex, type SessionRecord, type SessionStore } from '../src/sessions/base.js';
import { Sessions, type NewSession } from '../src/sessions/manager.js';
import { SqlSessionStore } from '../src/sessions/sql.js';
import { RedisSessionStore } from '../src/sessions/redis.js';
import { CookieSessionStore } from '../src/sessions/cookie.js';
import { DjangoSessionStore } from '../src/django/session-store.js';
import { createMysqlDatabase, createPgDatabase, dropRedisKeys, OwnRedisCluster } from './instances.js';

/**
 * The contract of src/sessions/base.ts, held against every store: the same cases, the same
 * assertions. A capability's cases run for the stores that declare it; for the others, the cases
 * show what Sessions answers in its place. A new store is one file in src/sessions/ and one row in
 * STORES: its name, the servers it runs on, the capabilities it declares, and how to open it on the
 * connections those servers give.
 *
 * `npm run test:sqlite` runs it on SQLite, for the signed cookie, and on every server the
 * environment names; test:postgres, test:mysql, test:redis and test:redis-cluster on theirs only.
 */
const SECRET = 'contract-secret-key-that-is-long-enough-0123456789';
const AGE_MS = 3_600_000;
type Capability = 'userIndex' | 'joinedRead';
const USER_ROW = { password: '!', last_login: null, is_superuser: 0, first_name: '', last_name: '', email: null, is_staff: 0, is_active: 1 };

interface StoreRow {
  name: string;
  /** The servers it runs on, each one a describe of its own (see BACKENDS). */
  on: Backend[];
  /** What it declares beyond the contract; the suite checks the declaration too. */
  has: Capability[];
  open(on: Connections): SessionStore | Promise<SessionStore>;
}

const STORES: StoreRow[] = [
  { name: 'sql', on: ['sqlite', 'postgres', 'mysql'], has: ['userIndex', 'joinedRead'], open: ({ database }) => new SqlSessionStore(database!) },
  { name: 'django', on: ['sqlite', 'postgres', 'mysql'], has: ['userIndex'], open: ({ database }) => djangoStore(database!) },
  { name: 'redis', on: ['redis', 'redis-cluster'], has: ['userIndex'], open: ({ redis }) => new RedisSessionStore(redis!, SECRET) },
  { name: 'signed cookie', on: ['none'], has: [], open: () => new CookieSessionStore(SECRET) },
];

async function djangoStore(database: DatabaseHandle): Promise<SessionStore> {
  const store = new DjangoSessionStore(database, SECRET, AGE_MS);
  await store.ensureTable();
  return store;
}

// ---- The servers. SQLite and "none" are always there; a networked one runs when the environment
// names it (its URL, or the PORTCULLIS_TEST_DATABASE / PORTCULLIS_TEST_SESSION_STORE a package.json
// script sets). In CI (CI=true) PostgreSQL and Redis are always named: one that does not answer fails
// the suite instead of skipping it.

type Backend = 'sqlite' | 'postgres' | 'mysql' | 'redis' | 'redis-cluster' | 'none';

interface Connections {
  database?: DatabaseHandle;
  redis?: RedisHandle;
}

interface Opened extends Connections {
  close(): Promise<void>;
}

const env = process.env;
const inCi = env.CI === 'true';

const BACKENDS: Record<Backend, { skip?: string; open(): Promise<Opened> }> = {
  none: { open: async () => ({ close: async () => {} }) },
  sqlite: {
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-contract-'));
      return migrated(connectDatabase(`sqlite:${join(dir, 'sessions.sqlite3')}`), async () => rmSync(dir, { recursive: true, force: true }));
    },
  },
  postgres: {
    skip: env.PORTCULLIS_TEST_PG_URL || env.PORTCULLIS_TEST_DATABASE === 'postgres' || inCi ? undefined : 'set PORTCULLIS_TEST_PG_URL to run it',
    async open() {
      const pg = await createPgDatabase();
      return migrated(connectDatabase(pg.url), () => pg.drop());
    },
  },
  mysql: {
    skip: env.PORTCULLIS_TEST_MYSQL_URL || env.PORTCULLIS_TEST_DATABASE === 'mysql' ? undefined : 'set PORTCULLIS_TEST_MYSQL_URL to run it',
    async open() {
      const mysql = await createMysqlDatabase();
      return migrated(connectDatabase(mysql.url), () => mysql.drop());
    },
  },
  redis: {
    skip: env.PORTCULLIS_TEST_REDIS_URL || env.PORTCULLIS_TEST_SESSION_STORE === 'redis' || inCi ? undefined : 'set PORTCULLIS_TEST_REDIS_URL to run it',
    async open() {
      const url = env.PORTCULLIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
      const prefix = `portcullis-contract:${process.pid}:${Math.random().toString(36).slice(2, 8)}:`;
      const redis = await connectRedis(url, prefix);
      return { redis, close: async () => (await redis.close(), await dropRedisKeys(url, prefix)) };
    },
  },
  'redis-cluster': {
    // Three redis-server processes of its own: run by `npm run test:redis-cluster`.
    skip: env.PORTCULLIS_TEST_SESSION_STORE === 'redis-cluster' ? undefined : 'run it with PORTCULLIS_TEST_SESSION_STORE=redis-cluster',
    async open() {
      const cluster = new OwnRedisCluster();
      try {
        await cluster.start();
        const redis = await connectRedis(cluster.url, 'portcullis-contract:');
        return { redis, close: async () => (await redis.close(), await cluster.stop()) };
      } catch (err) {
        await cluster.stop();
        throw err;
      }
    },
  },
};

async function migrated(database: DatabaseHandle, drop: () => Promise<void>): Promise<Opened> {
  try {
    await migrate(database, {}, []);
  } catch (err) {
    await database.close();
    await drop();
    throw err;
  }
  return { database, close: async () => (await database.close(), await drop()) };
}

// A networked backend named by PORTCULLIS_TEST_DATABASE / PORTCULLIS_TEST_SESSION_STORE is what that
// script is for: the stores on SQLite and on no server ran already under test:sqlite.
const selected = env.PORTCULLIS_TEST_SESSION_STORE?.startsWith('redis') ? env.PORTCULLIS_TEST_SESSION_STORE : env.PORTCULLIS_TEST_DATABASE;

for (const row of STORES) {
  for (const backend of row.on) {
    if (selected && backend !== selected) continue;
    const { skip, open } = BACKENDS[backend];
    describe(`${row.name} store${backend === 'none' ? '' : ` on ${backend}`}`, { skip }, () => contract(row, open));
  }
}

// ---- The contract.

function contract(row: StoreRow, open: () => Promise<Opened>): void {
  let opened: Opened;
  let store: SessionStore;
  let sessions: Sessions;
  let nextUser = 1000;
  const changedUsers: (number | null)[] = [];

  before(async () => {
    opened = await open();
    store = await row.open(opened);
    sessions = new Sessions(store, { sessionAge: AGE_MS / 1000 });
    sessions.onChange((userId) => void changedUsers.push(userId));
  });
  after(async () => {
    await store?.close();
    await opened?.close();
  });

  /** A session as Sessions issues it (the store's own key scheme names it). */
  const start = async (input: Partial<NewSession> = {}, expiresAt?: number): Promise<SessionRecord> => {
    const now = Date.now();
    const { record } = await sessions.create(
      { userId: null, backend: null, authHash: null, persistent: true, ip: '203.0.113.7', userAgent: 'contract/1', ...input },
      now,
      expiresAt ?? now + AGE_MS,
    );
    return record;
  };
  const forUser = (userId: number, authHash = 'hash-a', expiresAt?: number) => start({ userId, backend: 'model', authHash }, expiresAt);
  const reread = (record: SessionRecord, now = Date.now()) => store.get(record.keyHash, now);
  /** Stores that keep sessions server-side change them in place; an immutable one never does. */
  const mutable = () => !store.immutable;

  test('declares exactly the capabilities of its row', () => {
    assert.equal(hasUserIndex(store), row.has.includes('userIndex'), 'UserSessionIndex');
    assert.equal(hasJoinedUserRead(store), row.has.includes('joinedRead'), 'JoinedUserRead');
  });

  test('create, then get answers the same record', async () => {
    const userId = nextUser++;
    const record = await start({ userId, backend: 'model', authHash: 'hash-a', persistent: false, data: { cart: ['rye', 2], nested: { a: null } } });
    assert.deepEqual(await reread(record), record);
    const anonymous = await start({ data: { visits: 1 } });
    assert.deepEqual(await reread(anonymous), anonymous);
  });

  test('an expired session is not found', async () => {
    const record = await forUser(nextUser++);
    assert.equal(await reread(record, record.expiresAt + 1), null, 'expired by the clock it is asked with');
    const lapsed = await forUser(nextUser++, 'hash-a', Date.now() - 1000);
    assert.equal(await reread(lapsed), null, 'created already expired');
    assert.equal(await store.get('no-such-session', Date.now()), null);
  });

  test('touch records activity, and slides the expiry only when given one', async () => {
    const record = await forUser(nextUser++);
    const seen = record.lastSeenAt + 5000;
    await store.touch(record.keyHash, seen);
    if (!mutable()) return assert.deepEqual(await reread(record), record, 'an immutable session never changes in place');
    assert.deepEqual(await reread(record), { ...record, lastSeenAt: seen });
    const later = record.expiresAt + 60_000;
    await store.touch(record.keyHash, seen + 1000, later);
    assert.deepEqual(await reread(record), { ...record, lastSeenAt: seen + 1000, expiresAt: later });
    await store.delete(record.keyHash);
    await store.touch(record.keyHash, seen + 2000, later);
    assert.equal(await reread(record), null, 'a touch never brings a deleted session back');
  });

  test('patchData merges keys, deletes keys, clears, and never brings a deleted session back', async () => {
    const record = await start({ data: { keep: 1, drop: 2 } });
    await store.patchData(record.keyHash, { set: { added: 'x', keep: 3 }, delete: ['drop'] });
    if (!mutable()) return assert.deepEqual(await reread(record), record, 'an immutable session never changes in place');
    assert.deepEqual((await reread(record))!.data, { keep: 3, added: 'x' });
    await store.patchData(record.keyHash, { clear: true, set: { fresh: true } });
    assert.deepEqual((await reread(record))!.data, { fresh: true });
    await store.delete(record.keyHash);
    await store.patchData(record.keyHash, { set: { ghost: 1 } });
    assert.equal(await reread(record), null);
    assert.equal(await store.get(record.keyHash, 0), null, 'not even as an expired row');
  });

  test('concurrent patches of different keys all land', async () => {
    const record = await start({ data: { base: 0 } });
    const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((k, i) => store.patchData(record.keyHash, { set: { [k]: i } })));
    if (!mutable()) return assert.deepEqual(await reread(record), record, 'an immutable session never changes in place: every change is a new key');
    assert.deepEqual((await reread(record))!.data, { base: 0, ...Object.fromEntries(keys.map((k, i) => [k, i])) });
  });

  test('setExpiry changes when the session ends and whether it outlives the browser', async () => {
    const record = await forUser(nextUser++);
    const sooner = Date.now() + 120_000;
    await store.setExpiry(record.keyHash, sooner, false);
    if (!mutable()) return assert.deepEqual(await reread(record), record, 'an immutable session never changes in place');
    assert.deepEqual(await reread(record), { ...record, expiresAt: sooner, persistent: false });
    assert.equal(await reread(record, sooner + 1), null, 'it ends at the new time');
    await store.delete(record.keyHash);
    await store.setExpiry(record.keyHash, sooner, true);
    assert.equal(await store.get(record.keyHash, 0), null, 'setExpiry never brings a deleted session back');
  });

  test('delete ends that session and no other', async () => {
    const userId = nextUser++;
    const [one, two] = [await forUser(userId), await forUser(userId)];
    await store.delete(one.keyHash);
    if (!mutable()) return assert.deepEqual(await reread(one), one, 'documented limit: nothing server-side to delete');
    assert.equal(await reread(one), null);
    assert.deepEqual(await reread(two), two);
    await store.delete(one.keyHash); // twice is fine
  });

  test('clearExpired removes the expired sessions and only those', async () => {
    const now = Date.now();
    const lapsed = await forUser(nextUser++, 'hash-a', now - 1000);
    const live = await forUser(nextUser++);
    assert.equal(typeof (await store.clearExpired(now)), 'number');
    assert.equal(await reread(lapsed), null);
    // What a server keeps, it removes; a signed cookie is thrown away by its own expiry stamp.
    if (mutable()) assert.equal(await store.get(lapsed.keyHash, 0), null, 'gone, not just hidden');
    assert.deepEqual(await reread(live), live);
  });

  describe('per-user index (UserSessionIndex)', () => {
    test('lists only the live sessions of that user, most recently seen first', async (t) => {
      if (!hasUserIndex(store)) return t.skip('not declared: see "Sessions answers for a store without a user index"');
      const [me, other] = [nextUser++, nextUser++];
      const older = await forUser(me);
      const newer = await forUser(me);
      await store.touch(newer.keyHash, newer.lastSeenAt + 10_000);
      await forUser(me, 'hash-a', Date.now() - 1000);
      await forUser(other);
      await start();
      const listed = await store.listForUser(me, Date.now());
      assert.deepEqual(listed.map((r) => r.publicId), [newer.publicId, older.publicId]);
      assert.deepEqual(listed[1], older);
      assert.deepEqual(await store.listForUser(nextUser++, Date.now()), [], 'a user without sessions');
    });

    test('deleteForUser ends every session of that user but the one named', async (t) => {
      if (!hasUserIndex(store)) return t.skip('not declared');
      const [me, other] = [nextUser++, nextUser++];
      const kept = await forUser(me);
      const ended = [await forUser(me), await forUser(me)];
      const theirs = await forUser(other);
      assert.equal(await store.deleteForUser(me, kept.keyHash), 2);
      for (const r of ended) assert.equal(await reread(r), null);
      assert.deepEqual(await reread(kept), kept);
      assert.deepEqual(await reread(theirs), theirs, 'another user is untouched');
      assert.equal(await store.deleteForUser(me), 1, 'without an exception, the last one too');
      assert.equal(await reread(kept), null);
    });

    test('deleteByPublicId ends a session of that user only', async (t) => {
      if (!hasUserIndex(store)) return t.skip('not declared');
      const [me, other] = [nextUser++, nextUser++];
      const mine = await forUser(me);
      assert.equal(await store.deleteByPublicId(other, mine.publicId), false, "another user's id does not reach it");
      assert.deepEqual(await reread(mine), mine);
      assert.equal(await store.deleteByPublicId(me, mine.publicId), true);
      assert.equal(await reread(mine), null);
      assert.equal(await store.deleteByPublicId(me, mine.publicId), false, 'already gone');
    });

    test('updateAuthHash rewrites only the sessions of that user with the old hash', async (t) => {
      if (!hasUserIndex(store)) return t.skip('not declared');
      const [me, other] = [nextUser++, nextUser++];
      const current = [await forUser(me, 'hash-old'), await forUser(me, 'hash-old')];
      const stale = await forUser(me, 'hash-older');
      const theirs = await forUser(other, 'hash-old');
      await store.updateAuthHash(me, 'hash-old', 'hash-new');
      for (const r of current) assert.equal((await reread(r))!.authHash, 'hash-new');
      assert.equal((await reread(stale))!.authHash, 'hash-older', 'a session under another hash stays invalid');
      assert.equal((await reread(theirs))!.authHash, 'hash-old', 'another user is untouched');
    });

    test('Sessions answers for a store without a user index: none listed, none revoked, none ended', async (t) => {
      if (hasUserIndex(store)) return t.skip('declared: the cases above hold it to the index');
      const me = nextUser++;
      const record = await forUser(me);
      const key = record.keyHash;
      assert.deepEqual(await sessions.list(me), []);
      changedUsers.length = 0;
      assert.equal(await sessions.revoke(me, record.publicId), false);
      assert.equal(await sessions.endAllForUser(me), 0);
      await sessions.followPasswordUpgrade(me, 'hash-a', 'hash-b');
      assert.deepEqual(changedUsers, [me, me], 'the listeners still hear of the user (the auth cache forgets it)');
      assert.deepEqual(await store.get(key, Date.now()), record, 'documented limit: the session lives on until it expires');
    });
  });

  describe('the session with its user row (JoinedUserRead)', () => {
    test('getWithUserRow answers the record and the user, or a null user', async (t) => {
      if (!hasJoinedUserRead(store)) return t.skip('not declared: see "Sessions loads without the user row"');
      const userId = nextUser++;
      await opened.database!.db.insertInto('auth_user').values({ ...USER_ROW, id: userId, username: `u${userId}`, date_joined: Date.now() }).execute();
      const record = await forUser(userId);
      const joined = await store.getWithUserRow(record.keyHash, Date.now());
      assert.deepEqual(joined?.record, record);
      assert.equal(Number(joined?.userRow?.id), userId);
      assert.equal(joined?.userRow?.username, `u${userId}`);
      const anonymous = await start();
      assert.deepEqual(await store.getWithUserRow(anonymous.keyHash, Date.now()), { record: anonymous, userRow: null });
      const orphan = await forUser(nextUser++);
      assert.deepEqual(await store.getWithUserRow(orphan.keyHash, Date.now()), { record: orphan, userRow: null }, 'a user who is gone');
      assert.equal(await store.getWithUserRow(record.keyHash, record.expiresAt + 1), null, 'expired');
    });

    test('Sessions loads without the user row when the store cannot join it', async (t) => {
      if (hasJoinedUserRead(store)) return t.skip('declared');
      const { key, record } = await sessions.create({ userId: nextUser++, backend: 'model', authHash: 'hash-a', persistent: true });
      const loaded = await sessions.loadWithUserRow(key);
      assert.deepEqual(loaded, { record }, 'no userRow: the caller looks the user up itself');
    });
  });
}
