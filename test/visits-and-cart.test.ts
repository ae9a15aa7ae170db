import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, json, PASSWORD } from './helpers.js';

/**
 * The application-session example, driven over HTTP. With PORTCULLIS_TEST_SESSION_STORE=redis the
 * same run uses the Redis store (npm run test:redis).
 */
type Running = Awaited<ReturnType<typeof import('../examples/visits-and-cart/app.js')['start']>>;
let app: Running;
let dir: string;
const redisPrefix = `portcullis-example:${process.pid}:`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-visits-'));
  const { start } = await import('../examples/visits-and-cart/app.js');
  const redis = process.env.PORTCULLIS_TEST_SESSION_STORE === 'redis' ? { sessionStore: process.env.PORTCULLIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', redisPrefix } : {};
  app = await start({ port: 0, portcullis: { databaseUrl: `sqlite:${join(dir, 'db.sqlite3')}`, dataDir: dir, cwd: dir, env: {}, secretKey: 'visits-example-secret-0123456789abcdef', ...redis } });
  await app.portcullis.users.createUser({ username: 'shopper', password: PASSWORD });
});
after(async () => {
  const redis = app.portcullis.redis;
  if (redis) {
    const keys = await redis.client.keys(`${redisPrefix}*`);
    if (keys.length) await redis.client.del(...keys);
  }
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('examples/visits-and-cart', () => {
  test('a guest gets a session on the first write and their visits are counted', async () => {
    const guest = new Client(app.url);
    const first = await guest.get('/visits');
    assert.deepEqual(await json(first), { visits: 1 });
    const cookie = guest.setCookie('sessionid')!;
    assert.match(cookie, /HttpOnly/);
    assert.match(first.headers.get('vary') ?? '', /Cookie/);
    assert.deepEqual(await json(await guest.get('/visits')), { visits: 2 });
    assert.deepEqual(await json(await guest.get('/visits')), { visits: 3 });
  });

  test('a request that only reads creates nothing and sends no cookie, but varies on Cookie', async () => {
    const passer = new Client(app.url);
    const res = await passer.get('/cart');
    assert.deepEqual(await json(res), { cart: [], user: null });
    assert.equal(res.headers.getSetCookie().length, 0);
    assert.match(res.headers.get('vary') ?? '', /Cookie/);
  });

  test('the cart survives login under a new key; the guest key dies; logout flushes', async () => {
    const browser = new Client(app.url);
    await browser.post('/cart', { item: 'teapot' });
    await browser.post('/cart', { item: 'kettle' });
    const guestKey = browser.cookies.get('sessionid')!;
    const login = await browser.post('/login', { username: 'shopper', password: PASSWORD });
    assert.equal(login.status, 200);
    assert.deepEqual(await json(login), { user: 'shopper', cart: ['teapot', 'kettle'] });
    assert.notEqual(browser.cookies.get('sessionid'), guestKey, 'a new key at login (no fixation)');
    assert.deepEqual(await json(await browser.get('/cart')), { cart: ['teapot', 'kettle'], user: 'shopper' });
    const replay = new Client(app.url);
    replay.cookies.set('sessionid', guestKey);
    assert.deepEqual(await json(await replay.get('/cart')), { cart: [], user: null });
    assert.equal((await browser.post('/language', { lang: 'zh-CN' })).status, 200);
    assert.equal((await browser.post('/logout')).status, 204);
    assert.equal(browser.cookies.get('sessionid'), undefined, 'the cookie is cleared');
    assert.deepEqual(await json(await browser.get('/cart')), { cart: [], user: null });
  });

  test('a logged-in visitor\'s reads and writes follow each other while the auth cache answers', async () => {
    // Once the session is remembered (the auth cache answers its GETs), its data comes from there:
    // every write, by a GET or a POST, must show in the very next request.
    const browser = new Client(app.url);
    assert.equal((await browser.post('/login', { username: 'shopper', password: PASSWORD })).status, 200);
    for (let n = 1; n <= 5; n++) assert.deepEqual(await json(await browser.get('/visits')), { visits: n });
    await browser.post('/cart', { item: 'saucer' });
    assert.deepEqual(await json(await browser.get('/cart')), { cart: ['saucer'], user: 'shopper' });
    await browser.post('/cart', { item: 'spoon' });
    assert.deepEqual(await json(await browser.get('/cart')), { cart: ['saucer', 'spoon'], user: 'shopper' });
    assert.deepEqual(await json(await browser.get('/visits')), { visits: 6 });
  });

  test('an emptied guest session deletes its cookie', async () => {
    const guest = new Client(app.url);
    await guest.post('/cart', { item: 'cup' });
    assert.ok(guest.cookies.get('sessionid'));
    const res = await guest.delete('/cart');
    assert.equal(res.status, 204);
    assert.match(guest.setCookie('sessionid') ?? '', /Max-Age=0/);
  });

  test('concurrent requests of one visitor keep each other\'s writes', async () => {
    const browser = new Client(app.url);
    await browser.get('/visits');
    await Promise.all([browser.post('/cart', { item: 'a' }), browser.get('/visits')]);
    const cart = await json<{ cart: string[] }>(await browser.get('/cart'));
    assert.deepEqual(cart.cart, ['a']);
    assert.deepEqual(await json(await browser.get('/visits')), { visits: 3 });
  });
});
