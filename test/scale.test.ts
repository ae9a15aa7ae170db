import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPortcullis, type Portcullis } from '../src/portcullis.js';
import { Client, json, PASSWORD } from './helpers.js';
import { createPgDatabase, startInstance, type Instance, type ThrowawayPg } from './instances.js';

/** Two `portcullis serve` processes behind one PostgreSQL database and one Redis, as behind a load balancer. */
const redisUrl = process.env.PORTCULLIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `portcullis-scale:${process.pid}:`;
const secret = 'shared-secret-of-both-instances-0123456789';
let database: ThrowawayPg;
let a: Instance;
let b: Instance;
let admin: Portcullis;

before(async () => {
  database = await createPgDatabase();
  const env = {
    PORTCULLIS_DATABASE_URL: database.url,
    PORTCULLIS_SESSION_STORE: redisUrl,
    PORTCULLIS_REDIS_PREFIX: prefix,
    PORTCULLIS_SECRET_KEY: secret,
    // Clients named by X-Forwarded-For from the loopback proxy (the registration race below comes from many).
    PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1',
  };
  a = await startInstance(env);
  b = await startInstance(env);
  admin = await createPortcullis({ databaseUrl: database.url, sessionStore: redisUrl, redisPrefix: prefix, secretKey: secret, env: {}, migrate: false });
  await admin.users.createUser({ username: 'roamer', password: PASSWORD });
});

after(async () => {
  await admin?.close();
  await a?.stop();
  await b?.stop();
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await database?.drop();
});

/** The same browser, sent to whichever instance the balancer picks. */
function on(instance: Instance, from: Client): Client {
  const c = new Client(instance.url);
  for (const [k, v] of from.cookies) c.cookies.set(k, v);
  return c;
}

describe('several instances on PostgreSQL and Redis', () => {
  test('a login on A is valid on B; a logout on B kills the cookie on A', async () => {
    const browser = new Client(a.url);
    assert.equal((await browser.post('/api/auth/login', { username: 'roamer', password: PASSWORD })).status, 200);
    assert.equal((await on(b, browser).get('/api/auth/me')).status, 200);
    // Read twice on A, so A's auth cache holds the session when B ends it: A hears of it at once
    // (the Redis change channel), with no wait for the cache's TTL.
    assert.equal((await on(a, browser).get('/api/auth/me')).status, 200);
    assert.equal((await on(a, browser).get('/api/auth/me')).status, 200);
    const viaB = on(b, browser);
    assert.equal((await viaB.post('/api/auth/logout')).status, 204);
    assert.equal((await on(a, browser).get('/api/auth/me')).status, 401);
  });

  test('a password change on A ends the user\'s other sessions seen from B', async () => {
    const first = new Client(a.url);
    const second = new Client(b.url);
    await first.post('/api/auth/login', { username: 'roamer', password: PASSWORD });
    await second.post('/api/auth/login', { username: 'roamer', password: PASSWORD });
    const res = await first.post('/api/auth/password', { old_password: PASSWORD, new_password: 'roaming far and wide' });
    assert.equal(res.status, 200);
    assert.equal((await on(b, second).get('/api/auth/me')).status, 401);
    assert.equal((await on(b, first).get('/api/auth/me')).status, 200, 'the changer goes on, on every instance');
  });

  test('a deactivated user is refused on both at once', async () => {
    const user = await admin.users.createUser({ username: 'leaving', password: PASSWORD });
    const onA = new Client(a.url);
    const onB = new Client(b.url);
    await onA.post('/api/auth/login', { username: 'leaving', password: PASSWORD });
    await onB.post('/api/auth/login', { username: 'leaving', password: PASSWORD });
    for (const c of [onA, onA, onB, onB]) assert.equal((await c.get('/api/auth/me')).status, 200); // both cached
    await admin.deactivate(user);
    assert.equal((await onA.get('/api/auth/me')).status, 401);
    assert.equal((await onB.get('/api/auth/me')).status, 401);
    assert.equal((await new Client(b.url).post('/api/auth/login', { username: 'leaving', password: PASSWORD })).status, 401);
  });

  test('200 concurrent registrations of one username across both give one 201 and 199 409', async () => {
    // From 200 clients: one client past its registration limit would be answered 429 instead.
    const attempts = Array.from({ length: 200 }, (_, i) =>
      new Client(i % 2 ? a.url : b.url, { 'x-forwarded-for': `198.18.${i >> 8}.${i & 255}` }).post('/api/auth/register', { username: 'contested', password: PASSWORD }),
    );
    const statuses = (await Promise.all(attempts)).map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 201).length, 1, JSON.stringify(statuses.filter((s) => s !== 409 && s !== 201)));
    assert.equal(statuses.filter((s) => s === 409).length, 199);
    const { count } = await admin.users.list({ search: 'contested' });
    assert.equal(count, 1);
  });

  test('tokens issued by A verify on B', async () => {
    const res = await new Client(a.url).post('/api/auth/token', { username: 'roamer', password: 'roaming far and wide' });
    const { access_token } = await json<{ access_token: string }>(res);
    assert.equal((await fetch(b.url + '/api/auth/me', { headers: { authorization: `Bearer ${access_token}` } })).status, 200);
  });
});
