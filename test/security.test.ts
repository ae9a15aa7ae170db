import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Client, json, PASSWORD, startServer, type ErrorBody, type TestServer } from './helpers.js';
import { SqlThrottleStore } from '../src/throttle/sql.js';
import { RedisThrottleStore } from '../src/throttle/redis.js';
import { Throttle, type ThrottleLimits } from '../src/throttle/throttle.js';
import type { ThrottleStore } from '../src/throttle/base.js';
import { encodeUid } from '../src/auth/password-reset.js';
import { ApiError } from '../src/errors.js';

const LIMITS: Partial<ThrottleLimits> = { perClient: 3, perIp: 12, perAccount: 5, hardCeiling: 8, resetPerIp: 4 };

let server: TestServer;
let seq = 0;

/** A browser at its own address: the server believes X-Forwarded-For from its loopback proxy. */
function from(ip: string): Client {
  return new Client(server.url, { 'x-forwarded-for': ip });
}
function freshIp(): string {
  seq++;
  return `198.51.${(seq >> 8) & 255}.${seq & 255}`;
}

async function register(username: string, extra: Record<string, unknown> = {}) {
  const res = await new Client(server.url).post('/api/auth/register', { username, password: PASSWORD, ...extra });
  assert.equal(res.status, 201, await res.clone().text());
}

before(async () => {
  server = await startServer({ trustedProxies: ['127.0.0.1'], throttle: LIMITS, sessionIdleTimeout: 600 });
  for (const name of ['victim', 'owner', 'ceiling', 'tokenuser', 'headers', 'reauth', 'idle', 'gone']) await register(name, { email: `${name}@example.com` });
  await register('sleeper');
  await server.portcullis.deactivate((await server.portcullis.users.getByUsername('sleeper'))!);
});
after(() => server.close());

describe('throttling over HTTP', () => {
  test('a failing client is slowed down with 429 + Retry-After; a clean client with the right password still gets in', async () => {
    const attacker = freshIp();
    for (let i = 0; i < 3; i++) assert.equal((await from(attacker).post('/api/auth/login', { username: 'victim', password: 'wrong' })).status, 401);
    const blocked = await from(attacker).post('/api/auth/login', { username: 'victim', password: 'wrong' });
    assert.equal(blocked.status, 429);
    assert.equal((await json<ErrorBody>(blocked)).error.code, 'throttled');
    assert.match(blocked.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.equal((await from(attacker).post('/api/auth/login', { username: 'victim', password: PASSWORD })).status, 429, 'even the right password waits');
    assert.equal((await from(freshIp()).post('/api/auth/login', { username: 'victim', password: PASSWORD })).status, 200, 'the owner elsewhere is not locked out');
  });

  test('an unknown account is throttled exactly like a real one (no enumeration through 429s)', async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await from(ip).post('/api/auth/login', { username: 'no-such-user', password: 'wrong' })).status);
    assert.deepEqual(statuses, [401, 401, 401, 429]);
  });

  test('the token endpoint shares the counters of /login', async () => {
    const ip = freshIp();
    for (let i = 0; i < 3; i++) assert.equal((await from(ip).post('/api/auth/login', { username: 'tokenuser', password: 'wrong' })).status, 401);
    assert.equal((await from(ip).post('/api/auth/token', { username: 'tokenuser', password: PASSWORD })).status, 429);
    assert.equal((await from(freshIp()).post('/api/auth/token', { username: 'tokenuser', password: PASSWORD })).status, 200);
  });

  test('an account under attack from many addresses: failing clients wait, clean ones may still try', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await from(freshIp()).post('/api/auth/login', { username: 'owner', password: 'wrong' })).status, 401);
    const repeat = freshIp();
    assert.equal((await from(repeat).post('/api/auth/login', { username: 'owner', password: 'wrong' })).status, 401, 'a new client gets one try');
    assert.equal((await from(repeat).post('/api/auth/login', { username: 'owner', password: 'wrong' })).status, 429, 'its second try waits');
    assert.equal((await from(freshIp()).post('/api/auth/login', { username: 'owner', password: PASSWORD })).status, 200);
  });

  test('the hard ceiling of consecutive failures locks the account for everyone until a password reset', async () => {
    for (let i = 0; i < 8; i++) assert.equal((await from(freshIp()).post('/api/auth/login', { username: 'ceiling', password: 'wrong' })).status, 401);
    const locked = await from(freshIp()).post('/api/auth/login', { username: 'ceiling', password: PASSWORD });
    assert.equal(locked.status, 429, 'the right password from a clean client is refused too');
    assert.ok(Number(locked.headers.get('retry-after')) > 3600);
    const user = (await server.portcullis.users.getByUsername('ceiling'))!;
    const token = server.portcullis.passwordResetTokens.makeToken(user);
    const reset = await from(freshIp()).post('/api/auth/password-reset/confirm', { uid: encodeUid(user.id), token, new_password: 'a whole new passphrase 1' });
    assert.equal(reset.status, 200);
    assert.equal((await from(freshIp()).post('/api/auth/login', { username: 'ceiling', password: 'a whole new passphrase 1' })).status, 200);
  });

  test('password-reset requests are limited per client (429), silently per address (202)', async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await from(ip).post('/api/auth/password-reset', { email: `x${i}@example.com` })).status);
    assert.deepEqual(statuses, [202, 202, 202, 202, 429]);
    const perAddress: number[] = [];
    for (let i = 0; i < 5; i++) perAddress.push((await from(freshIp()).post('/api/auth/password-reset', { email: 'owner@example.com' })).status);
    assert.deepEqual(perAddress, [202, 202, 202, 202, 202]);
  });

  test('X-Forwarded-For is ignored from a proxy that is not trusted', async () => {
    const other = await startServer({ trustedProxies: ['10.1.2.3'], throttle: LIMITS });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const c = new Client(other.url, { 'x-forwarded-for': `203.0.113.${i}` });
        statuses.push((await c.post('/api/auth/login', { username: 'anyone', password: 'wrong' })).status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 429], 'every request counted against the real peer, 127.0.0.1');
    } finally {
      await other.close();
    }
  });
});

/** The same rules, pinned down with an explicit clock, on both stores. */
function storeSuite(name: string, make: () => Promise<{ store: ThrottleStore; close(): Promise<void> }>) {
  describe(`throttle rules on the ${name} store`, () => {
    let store: ThrottleStore;
    let close: () => Promise<void>;
    before(async () => ({ store, close } = await make()));
    after(() => close());

    test('Retry-After doubles with each failure past the limit and a success clears the client', async () => {
      const t = new Throttle(store, 'secret', { perClient: 2, perIp: 1000, perAccount: 1000, baseDelaySeconds: 1, maxDelaySeconds: 8 });
      let now = 1_000_000_000_000;
      const retries: number[] = [];
      while (retries.length < 6) {
        try {
          await t.failed(await t.attempt('192.0.2.1', { login: retries.length % 2 ? 'Someone' : ' someone ' }, now), now);
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          const retry = Number(err.headers?.['Retry-After']);
          retries.push(retry);
          now += retry * 1000;
        }
      }
      assert.deepEqual(retries, [1, 2, 4, 8, 8, 8], 'exponential, capped');
      const ok = await t.attempt('192.0.2.1', { login: 'someone' }, now);
      await t.succeeded(ok);
      await t.failed(await t.attempt('192.0.2.1', { login: 'someone' }, now), now);
      await t.attempt('192.0.2.1', { login: 'someone' }, now);
    });

    test('a burst of concurrent attempts cannot outrun the count', async () => {
      const rule = { limit: 5, baseDelayMs: 60_000, maxDelayMs: 60_000, windowMs: 60_000 };
      const now = Date.now();
      const results = await Promise.all(Array.from({ length: 30 }, () => store.consume(`burst-${name}-${now}`, rule, now)));
      assert.equal(results.filter((r) => r.allowed).length, 5);
    });

    test('counters forget after their window', async () => {
      const rule = { limit: 2, baseDelayMs: 1000, maxDelayMs: 1000, windowMs: 10_000 };
      const key = `window-${name}-${Date.now()}`;
      const now = Date.now();
      await store.consume(key, rule, now);
      assert.equal((await store.peek(key, now))?.count, 1);
      if (name === 'database') assert.equal(await store.peek(key, now + 20_000), null);
    });
  });
}

storeSuite('database', async () => {
  const s = await startServer();
  return { store: new SqlThrottleStore(s.portcullis.database), close: () => s.close() };
});

storeSuite('redis', async () => {
  const client = new Redis(process.env.PORTCULLIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = `portcullis-test:throttle:${process.pid}:${Math.random().toString(36).slice(2)}:`;
  return {
    store: new RedisThrottleStore(client, prefix),
    async close() {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length) await client.del(...keys);
      client.disconnect();
    },
  };
});

describe('no account enumeration', () => {
  test('unknown user, wrong password and inactive user give the same 401 body on /login and /token', async () => {
    for (const path of ['/api/auth/login', '/api/auth/token']) {
      const bodies = [];
      for (const creds of [
        { username: 'nobody-at-all', password: PASSWORD },
        { username: 'headers', password: 'not the password' },
        { username: 'sleeper', password: PASSWORD },
      ]) {
        const res = await from(freshIp()).post(path, creds);
        assert.equal(res.status, 401, path);
        bodies.push(await res.text());
      }
      assert.equal(new Set(bodies).size, 1, `${path}: identical answers`);
    }
  });
});

describe('security headers', () => {
  test('API answers: nosniff, referrer policy, frame denial, no-store', async () => {
    const client = from(freshIp());
    const login = await client.post('/api/auth/login', { username: 'headers', password: PASSWORD });
    const me = await client.get('/api/auth/me');
    for (const res of [login, me]) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('referrer-policy'), 'same-origin');
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.match(res.headers.get('content-security-policy') ?? '', /object-src 'none'.*frame-ancestors 'none'/);
    }
  });

  test('HTML pages carry a Content-Security-Policy', async () => {
    const res = await fetch(`${server.url}/docs/`, { redirect: 'follow' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'|frame-ancestors/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
  });

  test('every kind of answer gets them: errors, 404s inside and outside /api/, a bare OPTIONS, keys', async () => {
    const cookie = { cookie: 'sessionid=not-a-session' };
    const answers = {
      'GET /api/auth/me without a session (401)': await fetch(`${server.url}/api/auth/me`),
      'GET /api/nothing-here (404)': await fetch(`${server.url}/api/nothing-here`, { headers: cookie }),
      'GET /nothing-here (404)': await fetch(`${server.url}/nothing-here`, { headers: cookie }),
      'OPTIONS /accounts/login/ without a preflight (404)': await fetch(`${server.url}/accounts/login/`, { method: 'OPTIONS' }),
      'a refused cross-origin POST (403)': await fetch(`${server.url}/api/auth/logout`, { method: 'POST', headers: { ...cookie, origin: 'http://evil.example' } }),
      'GET /.well-known/jwks.json': await fetch(`${server.url}/.well-known/jwks.json`),
      // The router decodes %61 to a: the route is /api/auth/me even though the URL does not say /api/.
      'GET /%61pi/auth/me (401)': await fetch(`${server.url}/%61pi/auth/me`, { headers: cookie }),
    };
    for (const [what, res] of Object.entries(answers)) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', what);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', what);
      assert.equal(res.headers.get('referrer-policy'), 'same-origin', what);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/, what);
      await res.body?.cancel();
    }
    assert.equal(answers['GET /nothing-here (404)'].status, 404);
    assert.equal(answers['GET /nothing-here (404)'].headers.get('cache-control'), 'no-store', 'a 404 that came with a cookie');
    assert.equal(answers['GET /.well-known/jwks.json'].headers.get('cache-control'), 'public, max-age=300', 'a route outside /api/ keeps its own caching');
    assert.equal(answers['GET /%61pi/auth/me (401)'].status, 401, 'it did reach the API route');
    assert.equal(answers['GET /%61pi/auth/me (401)'].headers.get('cache-control'), 'no-store');
  });

  test('a refused cross-origin request is answered before its body is read: 403, not a body error', async () => {
    const headers = { cookie: 'sessionid=whatever', origin: 'http://evil.example', 'content-type': 'application/json' };
    const malformed = await fetch(`${server.url}/api/auth/password`, { method: 'POST', headers, body: '{not json' });
    assert.equal(malformed.status, 403);
    assert.equal((await json<ErrorBody>(malformed)).error.code, 'csrf_failed');
    const huge = await fetch(`${server.url}/api/auth/login`, { method: 'POST', headers, body: JSON.stringify({ username: 'x'.repeat(200_000), password: PASSWORD }) });
    assert.equal(huge.status, 403, 'not 413: the body was never read');
    assert.equal((await json<ErrorBody>(huge)).error.code, 'csrf_failed');
  });

  test('HSTS only when cookies are Secure (served over HTTPS)', async () => {
    assert.equal((await fetch(`${server.url}/api/auth/csrf`)).headers.get('strict-transport-security'), null);
  });
});

describe('password policy', () => {
  test('GET /api/auth/password-policy describes the validators', async () => {
    const res = await fetch(`${server.url}/api/auth/password-policy`);
    assert.equal(res.status, 200);
    const policy = await json<{ min_length: number; max_length: number; validators: Array<{ name: string }> }>(res);
    assert.equal(policy.min_length, 8);
    assert.ok(policy.max_length >= policy.min_length);
    assert.ok(policy.validators.length >= 4, 'Django\'s four validators at least');
  });
});

describe('sessions hardened', () => {
  test('an idle session ends after PORTCULLIS_SESSION_IDLE_TIMEOUT', async () => {
    const client = from(freshIp());
    assert.equal((await client.post('/api/auth/login', { username: 'idle', password: PASSWORD })).status, 200);
    const key = client.cookies.get('sessionid')!;
    assert.ok(await server.portcullis.sessions.load(key), 'alive while in use');
    assert.equal(await server.portcullis.sessions.load(key, Date.now() + 601_000), null, 'gone after ten idle minutes');
    assert.equal((await client.get('/api/auth/me')).status, 401, 'and stays gone');
  });

  test('sessions have an absolute lifetime that use does not extend', async () => {
    const client = from(freshIp());
    assert.equal((await client.post('/api/auth/login', { username: 'idle', password: PASSWORD })).status, 200);
    const sessions = (await json<{ sessions: Array<{ created_at: string; expires_at: string; current: boolean }> }>(await client.get('/api/auth/sessions'))).sessions;
    const current = sessions.find((s) => s.current)!;
    assert.equal(Date.parse(current.expires_at) - Date.parse(current.created_at), server.portcullis.config.sessionAge * 1000);
  });

  test('revoke-others needs a recent login or the password', async () => {
    const stale = await startServer({ reauthMinutes: 0 });
    try {
      const other = new Client(stale.url);
      const me = new Client(stale.url);
      assert.equal((await me.post('/api/auth/register', { username: 'careful', password: PASSWORD })).status, 201);
      assert.equal((await other.post('/api/auth/login', { username: 'careful', password: PASSWORD })).status, 200);
      assert.equal((await me.post('/api/auth/login', { username: 'careful', password: PASSWORD })).status, 200);
      await new Promise((r) => setTimeout(r, 5));
      const missing = await me.post('/api/auth/sessions/revoke-others');
      assert.equal(missing.status, 400);
      assert.ok((await json<ErrorBody>(missing)).error.fields?.password);
      assert.equal((await me.post('/api/auth/sessions/revoke-others', { password: 'wrong' })).status, 400);
      const ok = await me.post('/api/auth/sessions/revoke-others', { password: PASSWORD });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { revoked: 1 });
      assert.equal((await other.get('/api/auth/me')).status, 401);
    } finally {
      await stale.close();
    }
    const fresh = from(freshIp());
    assert.equal((await fresh.post('/api/auth/login', { username: 'reauth', password: PASSWORD })).status, 200);
    assert.equal((await fresh.post('/api/auth/sessions/revoke-others')).status, 200, 'a fresh login is enough');
  });

  test('deleting a user ends its sessions and refresh tokens', async () => {
    const client = from(freshIp());
    assert.equal((await client.post('/api/auth/login', { username: 'gone', password: PASSWORD })).status, 200);
    const pair = await json<{ refresh_token: string }>(await from(freshIp()).post('/api/auth/token', { username: 'gone', password: PASSWORD }));
    const user = (await server.portcullis.users.getByUsername('gone'))!;
    await server.portcullis.deleteUser(user.id);
    assert.equal((await client.get('/api/auth/me')).status, 401);
    assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: pair.refresh_token })).status, 401);
  });
});
