import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, json, PASSWORD, startServer, type ErrorBody, type TestServer } from './helpers.js';

let server: TestServer;

before(async () => {
  server = await startServer({ trustedOrigins: ['http://localhost:5173'] });
});
after(() => server.close());

async function register(body: Record<string, unknown>) {
  return new Client(server.url).post('/api/auth/register', body);
}

async function loggedIn(username: string, body: Record<string, unknown> = {}) {
  const client = new Client(server.url);
  const res = await client.post('/api/auth/login', { username, password: PASSWORD, ...body });
  assert.equal(res.status, 200, await res.clone().text());
  return client;
}

describe('register', () => {
  test('creates a user, hashes the password, never shows the hash, does not log in', async () => {
    const res = await register({ username: 'alice', password: PASSWORD, email: 'Alice@Example.COM', phone: '13812345678', first_name: 'Alice' });
    assert.equal(res.status, 201);
    const { user } = await json<{ user: Record<string, unknown> }>(res);
    assert.equal(user.username, 'alice');
    assert.equal(user.email, 'Alice@example.com', 'only the domain is lower-cased');
    assert.equal(user.phone, '13812345678');
    assert.equal(user.first_name, 'Alice');
    assert.equal(user.is_active, true);
    assert.equal(user.is_staff, false);
    assert.equal(user.last_login, null);
    assert.ok(!('password' in user));
    assert.equal(res.headers.getSetCookie().length, 0, 'register does not log in by default');
    const stored = await server.portcullis.users.getByUsername('alice');
    assert.match(stored!.password, /^argon2\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  test('ignores flags a visitor must not set', async () => {
    const res = await register({ username: 'mallory', password: PASSWORD, is_staff: true, is_superuser: true });
    assert.equal(res.status, 201);
    const { user } = await json<{ user: Record<string, unknown> }>(res);
    assert.equal(user.is_staff, false);
    assert.equal(user.is_superuser, false);
  });

  test('a taken username, email or phone is a 409 naming the field', async () => {
    for (const [field, body] of [
      ['username', { username: 'alice', password: PASSWORD }],
      ['email', { username: 'alice2', password: PASSWORD, email: 'alice@example.com' }],
      ['phone', { username: 'alice3', password: PASSWORD, phone: '13812345678' }],
    ] as const) {
      const res = await register(body);
      assert.equal(res.status, 409, field);
      const err = await json<ErrorBody>(res);
      assert.equal(err.error.code, 'conflict');
      assert.ok(err.error.fields?.[field], `names ${field}`);
    }
  });

  test('usernames are NFKC-normalised and checked against Django\'s pattern', async () => {
    const res = await register({ username: 'ｂｏｂ', password: PASSWORD });
    assert.equal(res.status, 201);
    assert.equal((await json<{ user: { username: string } }>(res)).user.username, 'bob');
    assert.equal((await register({ username: 'bob', password: PASSWORD })).status, 409, 'the normalised form collides');
    assert.equal((await register({ username: 'Zoë.测试+x@y-z_', password: PASSWORD })).status, 201, 'Unicode letters are fine');
    const bad = await register({ username: 'has space', password: PASSWORD });
    assert.equal(bad.status, 400);
    const err = await json<ErrorBody>(bad);
    assert.equal(err.error.code, 'validation_error');
    assert.ok(err.error.fields?.username);
  });

  test('password validators report per field', async () => {
    const res = await register({ username: 'weakling', password: '1234' });
    assert.equal(res.status, 400);
    const err = await json<ErrorBody>(res);
    assert.equal(err.error.code, 'validation_error');
    assert.ok((err.error.fields?.password?.length ?? 0) >= 2, JSON.stringify(err));
  });

  test('messages follow Accept-Language', async () => {
    const res = await new Client(server.url).post('/api/auth/register', { username: 'has space', password: PASSWORD }, { 'accept-language': 'zh-CN,zh;q=0.9' });
    const err = await json<ErrorBody>(res);
    assert.equal(err.error.message, '部分字段无效。');
    assert.match(err.error.fields!.username![0]!, /用户名/);
  });
});

describe('login', () => {
  before(async () => {
    await server.portcullis.users.createUser({ username: 'carol', password: PASSWORD, email: 'carol@example.com', phone: '13900000001' });
    await server.portcullis.users.createUser({ username: 'inactive', password: PASSWORD, is_active: false });
  });

  test('by username, email or phone, with a persistent HttpOnly SameSite=Lax cookie', async () => {
    for (const identifier of ['carol', 'carol@example.com', 'carol@EXAMPLE.com', '13900000001']) {
      const client = new Client(server.url);
      const res = await client.post('/api/auth/login', { username: identifier, password: PASSWORD });
      assert.equal(res.status, 200, identifier);
      assert.equal((await json<{ user: { username: string } }>(res)).user.username, 'carol');
      const cookie = client.setCookie('sessionid')!;
      assert.match(cookie, /HttpOnly/i);
      assert.match(cookie, /Path=\//);
      assert.match(cookie, /SameSite=Lax/i);
      assert.match(cookie, /Max-Age=1209600/);
      assert.doesNotMatch(cookie, /Secure/i, 'plain HTTP without PORTCULLIS_SECURE_COOKIES');
      const me = await client.get('/api/auth/me');
      assert.equal(me.status, 200);
      assert.equal((await json<{ user: { username: string; last_login: string } }>(me)).user.username, 'carol');
    }
  });

  test('the cookie holds at least 128 random bits and the store only its hash', async () => {
    const client = await loggedIn('carol');
    const key = client.cookies.get('sessionid')!;
    const secret = key.split('.').at(-1)!;
    assert.ok(Buffer.from(secret, 'base64url').length >= 16);
    const { store, keys } = server.portcullis.sessions;
    const storageId = keys.storageId(key);
    assert.ok(!storageId.includes(secret), 'the store is indexed by a digest, not the key');
    assert.ok(await store.get(storageId, Date.now()));
    assert.equal(await store.get(key, Date.now()), null);
  });

  test('remember: false gives a browser-session cookie', async () => {
    const client = await loggedIn('carol', { remember: false });
    const cookie = client.setCookie('sessionid')!;
    assert.doesNotMatch(cookie, /Max-Age|Expires/i);
    assert.equal((await client.get('/api/auth/me')).status, 200);
  });

  test('missing fields are missing_credentials', async () => {
    for (const body of [{}, { username: 'carol' }, { password: PASSWORD }, { username: '', password: PASSWORD }]) {
      const res = await new Client(server.url).post('/api/auth/login', body);
      assert.equal(res.status, 400);
      assert.equal((await json<ErrorBody>(res)).error.code, 'missing_credentials');
    }
  });

  test('unknown user, wrong password and inactive user get the same 401', async () => {
    const bodies = [
      { username: 'nobody', password: PASSWORD },
      { username: 'carol', password: 'wrong password' },
      { username: 'inactive', password: PASSWORD },
    ];
    const answers = [];
    for (const body of bodies) {
      const res = await new Client(server.url).post('/api/auth/login', body);
      assert.equal(res.status, 401);
      assert.equal(res.headers.getSetCookie().length, 0);
      answers.push(await res.text());
    }
    assert.equal(new Set(answers).size, 1, 'the three answers are byte-identical');
    assert.equal(JSON.parse(answers[0]!).error.code, 'invalid_credentials');
  });

  test('an unknown user costs one run of the default hasher, like a wrong password', async () => {
    const hashers = server.portcullis.hashers;
    const original = hashers.makePassword.bind(hashers);
    let hashed = 0;
    hashers.makePassword = async (...args: Parameters<typeof original>) => {
      hashed++;
      return original(...args);
    };
    try {
      await new Client(server.url).post('/api/auth/login', { username: 'ghost', password: PASSWORD });
      assert.equal(hashed, 1);
    } finally {
      hashers.makePassword = original;
    }
  });

  test('a new login replaces the session it arrived with (no fixation)', async () => {
    const client = await loggedIn('carol');
    const first = client.cookies.get('sessionid')!;
    await client.post('/api/auth/login', { username: 'carol', password: PASSWORD });
    const second = client.cookies.get('sessionid')!;
    assert.notEqual(first, second);
    const stale = new Client(server.url);
    stale.cookies.set('sessionid', first);
    assert.equal((await stale.get('/api/auth/me')).status, 401);
  });

  test('login records last_login', async () => {
    const client = await loggedIn('carol');
    const { user } = await json<{ user: { last_login: string | null } }>(await client.get('/api/auth/me'));
    assert.ok(user.last_login && Date.now() - Date.parse(user.last_login) < 60_000);
  });

  test('a password under an old hasher is upgraded at login and the session stays valid', async () => {
    const user = await server.portcullis.users.createUser({ username: 'legacy', password: null });
    const old = await server.portcullis.hashers.makePassword(PASSWORD, { algorithm: 'pbkdf2_sha256' });
    await server.portcullis.database.db.updateTable('auth_user').set({ password: old }).where('id', '=', user.id).execute();
    const client = await loggedIn('legacy');
    const after = await server.portcullis.users.getById(user.id);
    assert.match(after!.password, /^argon2\$/);
    assert.equal((await client.get('/api/auth/me')).status, 200);
    assert.equal((await new Client(server.url).post('/api/auth/login', { username: 'legacy', password: PASSWORD })).status, 200);
  });

  test('Authorization: Session <key> works for non-browser clients', async () => {
    const client = await loggedIn('carol');
    const key = client.cookies.get('sessionid')!;
    const res = await fetch(server.url + '/api/auth/me', { headers: { authorization: `Session ${key}` } });
    assert.equal(res.status, 200);
  });
});

describe('logout', () => {
  test('deletes the session, clears the cookie, and the old value never works again', async () => {
    const client = await loggedIn('carol');
    const key = client.cookies.get('sessionid')!;
    const res = await client.post('/api/auth/logout');
    assert.equal(res.status, 204);
    assert.match(client.setCookie('sessionid')!, /Max-Age=0/);
    const replay = new Client(server.url);
    replay.cookies.set('sessionid', key);
    assert.equal((await replay.get('/api/auth/me')).status, 401);
    assert.equal(await server.portcullis.sessions.store.get(server.portcullis.sessions.keys.storageId(key), Date.now()), null);
  });

  test('without a session is still 204', async () => {
    assert.equal((await new Client(server.url).post('/api/auth/logout')).status, 204);
  });
});

describe('me', () => {
  test('401 not_authenticated without a valid session', async () => {
    for (const cookie of [undefined, 'garbage', 'A'.repeat(43)]) {
      const client = new Client(server.url);
      if (cookie) client.cookies.set('sessionid', cookie);
      const res = await client.get('/api/auth/me');
      assert.equal(res.status, 401);
      assert.equal((await json<ErrorBody>(res)).error.code, 'not_authenticated');
    }
  });

  test('an expired session is never accepted, and clearsessions deletes it', async () => {
    const { portcullis } = server;
    const carol = (await portcullis.users.getByUsername('carol'))!;
    // A session issued long enough ago to have expired by now.
    const { key } = await portcullis.sessions.create(
      { userId: carol.id, backend: 'model', authHash: portcullis.authHash(carol.password), persistent: true },
      Date.now() - portcullis.sessions.ageMs - 1000,
    );
    const client = new Client(server.url);
    client.cookies.set('sessionid', key);
    assert.equal((await client.get('/api/auth/me')).status, 401);
    await portcullis.sessions.clearExpired();
    assert.equal(await portcullis.sessions.store.get(portcullis.sessions.keys.storageId(key), 0), null, 'gone from the store');
  });

  test('a deactivated user is logged out everywhere at once', async () => {
    const user = await server.portcullis.users.createUser({ username: 'leaver', password: PASSWORD });
    const client = await loggedIn('leaver');
    await server.portcullis.deactivate(user);
    assert.equal((await client.get('/api/auth/me')).status, 401);
  });
});

describe('password change', () => {
  test('the current session goes on under a new key; every other session stops', async () => {
    await server.portcullis.users.createUser({ username: 'dave', password: PASSWORD });
    const a = await loggedIn('dave');
    const b = await loggedIn('dave');
    const oldKey = a.cookies.get('sessionid')!;
    const res = await a.post('/api/auth/password', { old_password: PASSWORD, new_password: 'a brand new passphrase' });
    assert.equal(res.status, 200, await res.clone().text());
    assert.notEqual(a.cookies.get('sessionid'), oldKey);
    assert.equal((await a.get('/api/auth/me')).status, 200);
    assert.equal((await b.get('/api/auth/me')).status, 401);
    const replay = new Client(server.url);
    replay.cookies.set('sessionid', oldKey);
    assert.equal((await replay.get('/api/auth/me')).status, 401);
    assert.equal((await new Client(server.url).post('/api/auth/login', { username: 'dave', password: 'a brand new passphrase' })).status, 200);
  });

  test('a wrong old password is a validation error on old_password', async () => {
    await server.portcullis.users.createUser({ username: 'erin', password: PASSWORD });
    const client = await loggedIn('erin');
    const res = await client.post('/api/auth/password', { old_password: 'nope', new_password: 'another fine passphrase' });
    assert.equal(res.status, 400);
    assert.ok((await json<ErrorBody>(res)).error.fields?.old_password);
  });

  test('needs a session', async () => {
    const res = await new Client(server.url).post('/api/auth/password', { old_password: 'x', new_password: 'y' });
    assert.equal(res.status, 401);
  });
});

describe('sessions', () => {
  test('list, end one, end the others; someone else\'s is 404', async () => {
    await server.portcullis.users.createUser({ username: 'frank', password: PASSWORD });
    const a = await loggedIn('frank');
    const b = await loggedIn('frank');
    const c = await loggedIn('frank');
    const other = await loggedIn('carol');
    const { sessions } = await json<{ sessions: Array<{ id: string; current: boolean; user_agent: string | null }> }>(await a.get('/api/auth/sessions'));
    assert.equal(sessions.length, 3);
    assert.equal(sessions.filter((s) => s.current).length, 1);
    for (const s of sessions) assert.ok(!Object.values(s).includes(a.cookies.get('sessionid')!), 'never the key');
    const bSessions = await json<{ sessions: Array<{ id: string; current: boolean }> }>(await b.get('/api/auth/sessions'));
    const bId = bSessions.sessions.find((s) => s.current)!.id;
    assert.equal((await a.delete(`/api/auth/sessions/${bId}`)).status, 204);
    assert.equal((await b.get('/api/auth/me')).status, 401);
    const otherId = (await json<{ sessions: Array<{ id: string }> }>(await other.get('/api/auth/sessions'))).sessions[0]!.id;
    assert.equal((await a.delete(`/api/auth/sessions/${otherId}`)).status, 404);
    assert.equal((await other.get('/api/auth/me')).status, 200);
    const revoked = await a.post('/api/auth/sessions/revoke-others');
    assert.deepEqual(await json(revoked), { revoked: 1 });
    assert.equal((await c.get('/api/auth/me')).status, 401);
    assert.equal((await a.get('/api/auth/me')).status, 200);
  });
});

describe('csrf and cors', () => {
  test('GET /api/auth/csrf sets a script-readable csrftoken cookie', async () => {
    const client = new Client(server.url);
    const res = await client.get('/api/auth/csrf');
    const { csrf_token } = await json<{ csrf_token: string }>(res);
    const cookie = client.setCookie('csrftoken')!;
    assert.ok(cookie.startsWith(`csrftoken=${csrf_token}`));
    assert.doesNotMatch(cookie, /HttpOnly/i);
    assert.match(cookie, /SameSite=Lax/i);
    assert.match(cookie, /Max-Age=31536000/);
  });

  test('login from an untrusted origin is refused; from a trusted one it gets credentialed CORS', async () => {
    const evil = await new Client(server.url).post('/api/auth/login', { username: 'carol', password: PASSWORD }, { origin: 'http://evil.example' });
    assert.equal(evil.status, 403);
    assert.equal((await json<ErrorBody>(evil)).error.code, 'csrf_failed');
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
    const good = await new Client(server.url).post('/api/auth/login', { username: 'carol', password: PASSWORD }, { origin: 'http://localhost:5173' });
    assert.equal(good.status, 200);
    assert.equal(good.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    assert.equal(good.headers.get('access-control-allow-credentials'), 'true');
    assert.match(good.headers.get('vary') ?? '', /Origin/);
    const own = await new Client(server.url).post('/api/auth/login', { username: 'carol', password: PASSWORD }, { origin: server.origin });
    assert.equal(own.status, 200);
  });

  test('register is checked too, and Sec-Fetch-Site: cross-site without Origin is refused', async () => {
    const res = await new Client(server.url).post('/api/auth/register', { username: 'csrfuser', password: PASSWORD }, { origin: 'http://evil.example' });
    assert.equal(res.status, 403);
    const sfs = await new Client(server.url).post('/api/auth/login', { username: 'carol', password: PASSWORD }, { 'sec-fetch-site': 'cross-site' });
    assert.equal(sfs.status, 403);
  });

  test('a cookie-carrying unsafe request from another origin is refused; header-only auth is exempt', async () => {
    const client = await loggedIn('carol');
    const res = await client.post('/api/auth/sessions/revoke-others', undefined, { origin: 'http://evil.example' });
    assert.equal(res.status, 403);
    const key = client.cookies.get('sessionid')!;
    const headerOnly = await fetch(server.url + '/api/auth/sessions/revoke-others', {
      method: 'POST',
      headers: { authorization: `Session ${key}`, origin: 'http://evil.example' },
    });
    assert.equal(headerOnly.status, 200);
  });

  test('preflight from a trusted origin is answered, an untrusted one gets no CORS headers', async () => {
    const ok = await fetch(server.url + '/api/auth/login', {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
    assert.match(ok.headers.get('access-control-allow-methods') ?? '', /\bPOST\b/);
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /X-CSRFToken/);
    assert.equal(ok.headers.get('access-control-max-age'), '600');
    assert.match(ok.headers.get('vary') ?? '', /Origin/);
    const badPreflight = await fetch(server.url + '/api/auth/login', {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(badPreflight.status, 404);
    assert.equal(badPreflight.headers.get('access-control-allow-origin'), null);
    assert.equal(badPreflight.headers.get('access-control-allow-credentials'), null);
    const bad = await fetch(server.url + '/api/auth/me', { headers: { origin: 'http://evil.example' } });
    assert.equal(bad.headers.get('access-control-allow-origin'), null);
    assert.equal(bad.headers.get('access-control-allow-credentials'), null);
    assert.equal(bad.headers.get('access-control-expose-headers'), null);
    // No Origin at all: no CORS headers either, but caches are told the answer depends on it.
    const plain = await fetch(server.url + '/api/auth/me');
    assert.equal(plain.headers.get('access-control-allow-origin'), null);
    assert.match(plain.headers.get('vary') ?? '', /Origin/);
    // A trusted origin's script may read the warning header.
    const read = await fetch(server.url + '/api/auth/me', { headers: { origin: 'http://localhost:5173' } });
    assert.equal(read.status, 401);
    assert.equal(read.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    assert.match(read.headers.get('access-control-expose-headers') ?? '', /Portcullis-Warning/i);
  });
});

describe('bad input', () => {
  const login = (body: string, headers: Record<string, string> = {}) =>
    fetch(server.url + '/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  test('non-JSON content types are 415', async () => {
    const res = await login('username=a&password=b', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(res.status, 415);
    assert.equal((await json<ErrorBody>(res)).error.code, 'unsupported_media_type');
    assert.equal((await login('hello', { 'content-type': 'text/plain' })).status, 415);
  });

  test('bodies over 64 KiB are 413', async () => {
    const res = await login(JSON.stringify({ username: 'x'.repeat(70_000), password: 'y' }));
    assert.equal(res.status, 413);
    assert.equal((await json<ErrorBody>(res)).error.code, 'payload_too_large');
  });

  test('invalid JSON, invalid UTF-8 and wrong types are 400', async () => {
    for (const body of ['{', '{"username": }', 'null', '[]', '"x"']) {
      const res = await login(body);
      assert.equal(res.status, 400, body);
    }
    const invalidUtf8 = await fetch(server.url + '/api/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.concat([Buffer.from('{"username":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","password":"x"}')]),
    });
    assert.equal(invalidUtf8.status, 400);
    for (const body of [{ username: 5, password: 'x' }, { username: 'carol', password: ['x'] }, { username: 'carol', password: PASSWORD, remember: 'yes' }]) {
      const res = await login(JSON.stringify(body));
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal((await json<ErrorBody>(res)).error.code, 'validation_error');
    }
    const reg = await new Client(server.url).post('/api/auth/register', { username: 'typed', password: 12345678 });
    assert.equal(reg.status, 400);
    assert.ok((await json<ErrorBody>(reg)).error.fields?.password);
  });

  test('passwords over 4096 characters are refused before hashing', async () => {
    const long = 'x'.repeat(5000);
    const hashers = server.portcullis.hashers;
    const original = hashers.checkPassword.bind(hashers);
    let checked = 0;
    hashers.checkPassword = async (...args: Parameters<typeof original>) => {
      checked++;
      return original(...args);
    };
    try {
      for (const path of ['/api/auth/login', '/api/auth/register']) {
        const res = await login(JSON.stringify({ username: 'carol', password: long }));
        assert.equal(res.status, 400, path);
        assert.ok((await json<ErrorBody>(res)).error.fields?.password);
      }
      assert.equal(checked, 0);
    } finally {
      hashers.checkPassword = original;
    }
    const reg = await new Client(server.url).post('/api/auth/register', { username: 'longpw', password: long });
    assert.equal(reg.status, 400);
  });

  test('null bytes are refused', async () => {
    const res = await new Client(server.url).post('/api/auth/register', { username: 'nul\u0000l', password: PASSWORD });
    assert.equal(res.status, 400);
    const res2 = await new Client(server.url).post('/api/auth/login', { username: 'carol', password: 'pass\u0000word' });
    assert.equal(res2.status, 400);
  });

  test('unknown paths are a 404 in the contract shape', async () => {
    const res = await fetch(server.url + '/api/auth/nope');
    assert.equal(res.status, 404);
    assert.equal((await json<ErrorBody>(res)).error.code, 'not_found');
  });
});

describe('service endpoints', () => {
  test('openapi, docs from local assets, health and readiness', async () => {
    const spec = await json<{ openapi: string; paths: Record<string, unknown> }>(await fetch(server.url + '/openapi.json'));
    assert.match(spec.openapi, /^3\./);
    assert.ok(spec.paths['/api/auth/login']);
    const docs = await fetch(server.url + '/docs/');
    assert.equal(docs.status, 200);
    const html = await docs.text();
    assert.doesNotMatch(html, /https?:\/\/(cdn|unpkg|cdnjs)/);
    assert.equal((await fetch(server.url + '/healthz')).status, 200);
    assert.equal((await fetch(server.url + '/readyz')).status, 200);
  });

  test('API answers carry security headers and no-store', async () => {
    const res = await fetch(server.url + '/api/auth/me');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
  });
});
