import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { parseCookies, readCookie } from './cookies.js';
import { registerCookies } from '../http/request-cookies.js';

test('parseCookies reads every cookie as readCookie reads one', () => {
  const header = 'sessionid=abc; csrftoken="q%20w"; bad=%E0%A4%A; sessionid=second; flag; =nameless';
  const cookies = parseCookies(header);
  assert.deepEqual({ ...cookies }, { sessionid: 'abc', csrftoken: 'q w', bad: '%E0%A4%A' });
  for (const name of ['sessionid', 'csrftoken', 'bad', 'flag']) assert.equal(cookies[name], readCookie(header, name));
});

test('parseCookies: a cookie named __proto__ is a cookie, not a prototype', () => {
  const cookies = parseCookies('__proto__=x; constructor=y');
  assert.equal(cookies['__proto__'], 'x');
  assert.equal(cookies['constructor'], 'y');
  assert.equal(parseCookies(undefined)['toString'], undefined);
});

test('request.cookies on the server: parsed once, writable for later handlers, empty without a header', async () => {
  const app = Fastify();
  registerCookies(app);
  app.get('/', async (request) => {
    const first = request.cookies;
    first['csrftoken'] = 'rotated';
    return { same: request.cookies === first, csrftoken: request.cookies['csrftoken'], sessionid: request.cookies['sessionid'] ?? null };
  });
  const withCookies = await app.inject({ url: '/', headers: { cookie: 'sessionid=k1; csrftoken=old' } });
  assert.deepEqual(withCookies.json(), { same: true, csrftoken: 'rotated', sessionid: 'k1' });
  const without = await app.inject({ url: '/' });
  assert.deepEqual(without.json(), { same: true, csrftoken: 'rotated', sessionid: null });
  await app.close();
});
