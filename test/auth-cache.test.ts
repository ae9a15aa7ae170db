import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuthCache } from '../src/auth/cache.js';
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

  test('a revocation elsewhere stops unsafe requests at once and reads within the bound', async () => {
    const { client, id } = await loggedIn('there1');
    await elsewhere.endEverything(id);
    // Unsafe requests never trust the cache.
    assert.equal((await client.post('/api/auth/sessions/revoke-others', { password: PASSWORD })).status, 401);
    // Reads may be answered from memory, but for no longer than the bound.
    await sleep(TTL + 100);
    assert.equal((await client.get('/api/auth/me')).status, 401);
  });

  test('the cache really answers safe requests, and an unsafe check refreshes it', async () => {
    // A long TTL makes the stale window deterministic: within it a revocation made elsewhere is not
    // seen by a cached check, is seen by an uncached one, and that uncached miss drops the entry.
    const slow = await createPortcullis({ ...sameStore(), authCacheMs: 60_000 });
    try {
      const user = await slow.users.createUser({ username: 'cached1', password: PASSWORD });
      const { key } = await slow.login(user, 'model');
      assert.ok(await slow.getUser(key, { cached: true }));
      assert.ok(await slow.getUser(key, { cached: true })); // remembered from here on
      await elsewhere.endEverything(user.id);
      assert.equal((await slow.getUser(key, { cached: true }))?.user.username, 'cached1', 'served from memory');
      assert.equal(await slow.getUser(key), null, 'the store says it is gone');
      assert.equal(await slow.getUser(key, { cached: true }), null, 'and the memory forgot it');
    } finally {
      await slow.close();
    }
  });

  test('a deactivation elsewhere ends bearer access within the bound', async () => {
    await server.portcullis.users.createUser({ username: 'there2', password: PASSWORD });
    const tokens = await json<{ access_token: string }>(
      await new Client(server.url).post('/api/auth/token', { username: 'there2', password: PASSWORD }),
    );
    const bearer = new Client(server.url, { authorization: `Bearer ${tokens.access_token}` });
    assert.equal((await bearer.get('/api/auth/me')).status, 200);
    assert.equal((await bearer.get('/api/auth/me')).status, 200); // now remembered
    const user = await elsewhere.users.getByUsername('there2');
    await elsewhere.deactivate(user!);
    await sleep(TTL + 100);
    assert.equal((await bearer.get('/api/auth/me')).status, 401);
  });

  test('application session data is never served from the cache', async () => {
    // The cached session record carries data another instance may have changed since: a safe request
    // that reads the application's session still gets what the store holds.
    const { client } = await loggedIn('there3');
    const cookie = [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const facts = { method: 'GET', ownOrigin: server.origin, cookie };
    assert.ok(await new RequestContext(server.portcullis, facts).auth()); // remembered (loggedIn checked it twice), data {} inside
    const key = client.cookies.get(server.portcullis.config.sessionCookieName)!;
    const record = await elsewhere.sessions.load(key);
    await elsewhere.sessions.store.patchData(record!.keyHash, { set: { cart: ['tea'] } });
    const ctx = new RequestContext(server.portcullis, facts);
    assert.ok(await ctx.auth());
    assert.deepEqual((await ctx.session()).get('cart'), ['tea']);
  });
});
