import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuthCache } from '../src/auth/cache.js';
import { subscriberConnectionName } from '../src/auth/change-channel.js';
import { RequestContext } from '../src/adapters/core.js';
import { createPortcullis, type Portcullis } from '../src/portcullis.js';
import { Client, json, PASSWORD, startServer, type TestServer } from './helpers.js';

describe('AuthCache (pure logic)', () => {
  /** A credential is remembered the second time it is checked within the TTL. */
  function remember<V>(cache: AuthCache<V>, key: string, value: V, userId: number, now: number, expiresAt?: number): void {
    cache.set(key, value, userId, cache.version, now, expiresAt);
    cache.set(key, value, userId, cache.version, now, expiresAt);
  }

  test('a credential checked once is not kept; the second check within the TTL is', () => {
    const cache = new AuthCache<string>(1000);
    cache.set('a', 'alice', 1, cache.version, 0);
    assert.equal(cache.get('a', 1), undefined);
    cache.set('a', 'alice', 1, cache.version, 500);
    assert.equal(cache.get('a', 501), 'alice');
    cache.set('b', 'bob', 2, cache.version, 0);
    cache.set('b', 'bob', 2, cache.version, 1000); // the first sighting has lapsed: a first sighting again
    assert.equal(cache.get('b', 1001), undefined);
  });

  test('an entry lives ttlMs at most, or to its own expiry if sooner', () => {
    const cache = new AuthCache<string>(1000);
    remember(cache, 'a', 'alice', 1, 0);
    remember(cache, 'b', 'bob', 2, 0, 300);
    assert.equal(cache.get('a', 999), 'alice');
    assert.equal(cache.get('a', 1000), undefined);
    assert.equal(cache.get('b', 299), 'bob');
    assert.equal(cache.get('b', 300), undefined);
    assert.equal(cache.size, 0);
  });

  test('forgetting a user drops all of its entries and nothing else', () => {
    const cache = new AuthCache<string>(1000);
    remember(cache, 'a1', 'alice', 1, 0);
    remember(cache, 'a2', 'alice', 1, 0);
    remember(cache, 'b', 'bob', 2, 0);
    cache.forgetUser(1);
    assert.equal(cache.get('a1', 1), undefined);
    assert.equal(cache.get('a2', 1), undefined);
    assert.equal(cache.get('b', 1), 'bob');
  });

  test('an answer read before a change is not kept after it', () => {
    const cache = new AuthCache<string>(1000);
    cache.set('a', 'alice', 1, cache.version, 0); // seen once
    const version = cache.version; // a reader starts ...
    cache.forgetUser(1); // ... a change lands meanwhile ...
    cache.set('a', 'stale alice', 1, version, 0); // ... and the reader's answer is dropped
    assert.equal(cache.get('a', 1), undefined);
  });

  test('it is bounded: the oldest entry goes first, expired ones are swept', () => {
    const cache = new AuthCache<number>(1000, 3);
    for (let i = 0; i < 5; i++) remember(cache, `k${i}`, i, i, 0);
    assert.equal(cache.size, 3);
    assert.equal(cache.get('k0', 1), undefined);
    assert.equal(cache.get('k4', 1), 4);
    remember(cache, 'late', 9, 9, 2000);
    assert.equal(cache.size, 1, 'expired entries were swept on insert');
  });

  test('ttl 0 turns it off', () => {
    const cache = new AuthCache<string>(0);
    remember(cache, 'a', 'alice', 1, 0);
    assert.equal(cache.get('a', 0), undefined);
  });
});

/**
 * The credential cache (PORTCULLIS_AUTH_CACHE_MS) must never let a revoked session act, and must let
 * it read for no longer than the documented bound: a change made by this server applies at once; one
 * made behind its back (another instance, the CLI) applies at once to unsafe requests and within the
 * bound to safe ones.
 */
const TEST_DATABASE = process.env.PORTCULLIS_TEST_DATABASE ?? 'sqlite';
const TEST_STORE = process.env.PORTCULLIS_TEST_SESSION_STORE ?? 'database';
/** Sessions or users in Redis or PostgreSQL: instances tell each other about changes on a channel. */
const CHANNEL = TEST_STORE.startsWith('redis') || TEST_DATABASE === 'postgres';
/** Another instance's change reaches the cache before its TTL: a channel, or SQLite's change counter. MySQL with SQL sessions has neither. */
const PUSHED = CHANNEL || TEST_DATABASE === 'sqlite';

/**
 * Cuts the change-channel connections of every instance on `p`'s stores from the server side, as a
 * network fault or a restart of the store would: CLIENT KILL for the named Redis subscribers,
 * pg_terminate_backend for the LISTEN connections. Returns undefined when `p` has no channel.
 */
async function cutChannel(p: Portcullis): Promise<(() => Promise<void>) | undefined> {
  if (p.redis) {
    const name = subscriberConnectionName(p.config.redisPrefix);
    const { Cluster } = await import('ioredis');
    const nodes = p.redis.client instanceof Cluster ? p.redis.client.nodes('all') : [p.redis.client];
    return async () => {
      let killed = 0;
      for (const node of nodes) {
        const list = String(await node.client('LIST'));
        for (const line of list.split('\n')) {
          const id = / name=(\S*)/.exec(line)?.[1] === name ? /^id=(\d+)/.exec(line)?.[1] : undefined;
          if (id) killed += Number(await node.client('KILL', 'ID', id));
        }
      }
      assert.ok(killed >= 1, 'the subscriber connection was found and cut');
    };
  }
  if (p.database.dialect === 'postgres') {
    return async () => {
      const { rows } = await p.database.pg!.query(
        "SELECT count(*) AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()) cut",
      );
      assert.ok(Number(rows[0].n) >= 1, 'the LISTEN connection was found and cut');
    };
  }
  return undefined;
}

describe('the auth cache over real HTTP', () => {
  const TTL = 400;
  let server: TestServer;
  /** Another process's view of the same database and store, as another instance or the CLI would have. */
  let elsewhere: Portcullis;

  before(async () => {
    server = await startServer({ authCacheMs: TTL });
    elsewhere = await createPortcullis(sameStore());
  });
  after(async () => {
    await elsewhere?.close();
    await server?.close();
  });

  /** Options for another Portcullis on the test server's database and session store. */
  function sameStore() {
    const c = server.portcullis.config;
    return {
      databaseUrl: c.databaseUrl,
      sessionStore: c.sessionStore,
      redisPrefix: c.redisPrefix,
      secretKey: c.secretKey,
      cwd: server.dir,
      dataDir: server.dir,
      env: {},
      migrate: false,
    };
  }

  async function loggedIn(username: string): Promise<{ client: Client; id: number }> {
    const user = await server.portcullis.users.createUser({ username, password: PASSWORD });
    const client = new Client(server.url);
    assert.equal((await client.post('/api/auth/login', { username, password: PASSWORD })).status, 200);
    assert.equal((await client.get('/api/auth/me')).status, 200);
    assert.equal((await client.get('/api/auth/me')).status, 200); // checked twice: now remembered
    return { client, id: user.id };
  }

  test('a logout or deactivation on this server applies at once', async () => {
    const { client } = await loggedIn('here1');
    const copy = new Client(server.url);
    for (const [k, v] of client.cookies) copy.cookies.set(k, v);
    assert.equal((await client.post('/api/auth/logout')).status, 204);
    assert.equal((await copy.get('/api/auth/me')).status, 401);

    const second = await loggedIn('here2');
    await server.portcullis.deactivate((await server.portcullis.users.getById(second.id))!);
    assert.equal((await second.client.get('/api/auth/me')).status, 401);
  });

  test('a profile change on this server shows at once', async () => {
    const { client, id } = await loggedIn('here3');
    await server.portcullis.users.update(id, { first_name: 'Renamed' });
    const body = await json<{ user: { first_name: string } }>(await client.get('/api/auth/me'));
    assert.equal(body.user.first_name, 'Renamed');
  });

  /** Polls `check` for at most `ms` (the channels deliver in well under that), true once it holds. */
  async function soon(check: () => boolean | Promise<boolean>, ms = 2000): Promise<boolean> {
    for (const until = Date.now() + ms; Date.now() < until; await sleep(5)) if (await check()) return true;
    return check();
  }

  /** A Portcullis with a 60 s cache on the test server's stores: anything it forgets sooner was told to. */
  async function longCache(): Promise<Portcullis> {
    return createPortcullis({ ...sameStore(), authCacheMs: 60_000 });
  }

  /** A user logged in on `p` whose session `p` now answers from memory. */
  async function remembered(p: Portcullis, username: string): Promise<{ id: number; key: string }> {
    const user = await p.users.createUser({ username, password: PASSWORD });
    const { key } = await p.login(user, 'model');
    assert.ok(await p.getUser(key, { cached: true }));
    assert.ok(await p.getUser(key, { cached: true }));
    assert.equal(p.cachedSessionUser(key)?.user.username, username, 'remembered');
    return { id: user.id, key };
  }

  test('a revocation elsewhere stops unsafe requests at once, and reads at once or within the bound', async () => {
    const { client, id } = await loggedIn('there1');
    await elsewhere.endEverything(id);
    // Unsafe requests never trust the cache.
    assert.equal((await client.post('/api/auth/sessions/revoke-others', { password: PASSWORD })).status, 401);
    // Reads may be answered from memory, but for no longer than the bound.
    await sleep(TTL + 100);
    assert.equal((await client.get('/api/auth/me')).status, 401);
  });

  if (PUSHED) test('a change by another instance reaches the cache at once, long before its TTL', async () => {
    const slow = await longCache();
    try {
      const session = await remembered(slow, 'pushed1');
      await elsewhere.endEverything(session.id);
      assert.ok(await soon(() => slow.cachedSessionUser(session.key) === undefined), 'forgotten within 2 s of a 60 s TTL');
      assert.equal(await slow.getUser(session.key, { cached: true }), null);

      // The same for a bearer token and a deactivation.
      const user = await slow.users.createUser({ username: 'pushed2', password: PASSWORD });
      const { access_token } = await slow.issueTokens(user);
      assert.ok(await slow.getUserFromAccessToken(access_token, { cached: true }));
      assert.ok(await slow.getUserFromAccessToken(access_token, { cached: true }));
      assert.ok(slow.cachedTokenUser(access_token), 'remembered');
      await elsewhere.deactivate((await elsewhere.users.getById(user.id))!);
      assert.ok(await soon(() => slow.cachedTokenUser(access_token) === undefined), 'forgotten within 2 s of a 60 s TTL');
      assert.equal(await slow.getUserFromAccessToken(access_token, { cached: true }), null);

      // An instance with its own cache off does not listen, but still tells the others.
      const quiet = await createPortcullis({ ...sameStore(), authCacheMs: 0 });
      try {
        const third = await remembered(slow, 'pushed4');
        await quiet.endEverything(third.id);
        assert.ok(await soon(() => slow.cachedSessionUser(third.key) === undefined), 'forgotten within 2 s of a 60 s TTL');
      } finally {
        await quiet.close();
      }
    } finally {
      await slow.close();
    }
  });

  if (PUSHED) test('over HTTP: a logout on another instance is refused by this one\'s next read', async () => {
    const { client, id } = await loggedIn('pushed3');
    await elsewhere.endEverything(id);
    // No sleep: the change was published before endEverything returned.
    assert.ok(await soon(async () => (await client.get('/api/auth/me')).status === 401, 1000));
  });

  test('a writer that is not portcullis is seen within the TTL (at once on SQLite, which counts every commit)', async () => {
    // A long TTL makes the stale window deterministic: within it a change made behind portcullis's back
    // is not seen by a cached check, is seen by an uncached one, and that uncached miss drops the entry.
    const slow = await longCache();
    try {
      const session = await remembered(slow, 'cached1');
      // Straight SQL, as an administrator's script would do: no change is published.
      await elsewhere.database.db.updateTable('auth_user').set({ is_active: 0 }).where('id', '=', session.id).execute();
      if (slow.database.dialect === 'sqlite') {
        assert.ok(await soon(() => slow.cachedSessionUser(session.key) === undefined), 'the file\'s change counter moved');
      } else {
        assert.equal((await slow.getUser(session.key, { cached: true }))?.user.username, 'cached1', 'served from memory');
      }
      assert.equal(await slow.getUser(session.key), null, 'the store says it is gone');
      assert.equal(await slow.getUser(session.key, { cached: true }), null, 'and the memory forgot it');
    } finally {
      await slow.close();
    }
  });

  if (CHANNEL) test('a cache that cannot hear the channel answers nothing, and forgets what it held once it hears again', async () => {
    const slow = await longCache();
    try {
      const cut = await cutChannel(slow);
      assert.ok(cut, 'this store has a change channel');
      const session = await remembered(slow, 'deaf1');
      const states: boolean[] = [];
      slow.events.on('change_channel', ({ listening }) => states.push(listening));
      await cut();
      // A change made while the channel is down: its message is lost.
      await elsewhere.endEverything(session.id);
      assert.ok(await soon(() => states.includes(false)), 'the loss was noticed');
      assert.equal(slow.cachedSessionUser(session.key), undefined, 'nothing is answered from memory meanwhile');
      assert.ok(await soon(() => states.at(-1) === true, 10_000), 'the channel came back by itself');
      assert.equal(slow.cachedSessionUser(session.key), undefined, 'the entry from before is gone');
      assert.equal(await slow.getUser(session.key, { cached: true }), null);
      // And the cache works again.
      const again = await remembered(slow, 'deaf2');
      assert.ok(slow.cachedSessionUser(again.key));
    } finally {
      await slow.close();
    }
  });

  test('application session data in the cache is never behind a write, here or on another instance', async () => {
    // A safe request reads a logged-in session's data from the auth cache's record only where every
    // write reaches that cache at once (SQLite's change counter, a change channel); elsewhere (MySQL
    // with SQL sessions) it reads the store. Either way a write is seen by the next read.
    const slow = await longCache();
    try {
      const { key } = await remembered(slow, 'there3');
      const facts = { method: 'GET', ownOrigin: server.origin, cookie: `${slow.config.sessionCookieName}=${key}` };
      const read = async (p: Portcullis) => {
        const ctx = new RequestContext(p, facts);
        assert.ok(await ctx.auth());
        return ctx.session();
      };
      assert.equal(slow.sessionDataCached, PUSHED);

      // Written by the application on another instance (a POST there), read here well within a 60 s TTL.
      const there = new RequestContext(elsewhere, { ...facts, method: 'POST' });
      assert.ok(await there.auth());
      (await there.session()).set('cart', ['tea']);
      await there.commitSession();
      assert.ok(await soon(async () => JSON.stringify((await read(slow)).get('cart')) === '["tea"]', 1000));

      // Written on this instance, read back by its next request at once.
      const here = new RequestContext(slow, { ...facts, method: 'POST' });
      assert.ok(await here.auth());
      (await here.session()).set('cart', ['tea', 'cake']);
      await here.commitSession();
      assert.deepEqual((await read(slow)).get('cart'), ['tea', 'cake']);

      // A value changed in place and never saved stays in its own request.
      const careless = await read(slow);
      careless.get<string[]>('cart')!.push('unsaved');
      assert.deepEqual((await read(slow)).get('cart'), ['tea', 'cake']);
    } finally {
      await slow.close();
    }
  });
});
