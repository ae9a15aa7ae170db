import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { Client, json, PASSWORD, startServer, type ErrorBody, type TestServer } from './helpers.js';
import { scanTargets } from '../src/redis.js';

let server: TestServer;
before(async () => {
  server = await startServer();
  await server.portcullis.users.createUser({ username: 'svc', password: PASSWORD });
  await server.portcullis.users.createUser({ username: 'admin', password: PASSWORD, is_staff: true });
});
after(() => server.close());

interface Pair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
}

async function obtain(username = 'svc'): Promise<Pair> {
  const res = await new Client(server.url).post('/api/auth/token', { username, password: PASSWORD });
  assert.equal(res.status, 200);
  return json<Pair>(res);
}

describe('tokens', () => {
  test('credentials give a short-lived EdDSA access token verifiable from the JWKS', async () => {
    const pair = await obtain();
    assert.equal(pair.token_type, 'Bearer');
    assert.equal(pair.expires_in, 300);
    const jwks = await json<{ keys: Array<Record<string, string>> }>(await fetch(server.url + '/.well-known/jwks.json'));
    assert.equal(jwks.keys[0]!.crv, 'Ed25519');
    assert.ok(!('d' in jwks.keys[0]!), 'never the private part');
    const { payload, protectedHeader } = await jwtVerify(pair.access_token, createLocalJWKSet(jwks as never));
    assert.equal(protectedHeader.alg, 'EdDSA');
    assert.ok(payload.sub);
    assert.equal(payload.exp! - payload.iat!, 300);
  });

  test('Bearer works on /api/auth/me; a tampered token does not', async () => {
    const pair = await obtain();
    const me = await fetch(server.url + '/api/auth/me', { headers: { authorization: `Bearer ${pair.access_token}` } });
    assert.equal(me.status, 200);
    assert.equal((await json<{ user: { username: string } }>(me)).user.username, 'svc');
    const tampered = pair.access_token.slice(0, -4) + (pair.access_token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.equal((await fetch(server.url + '/api/auth/me', { headers: { authorization: `Bearer ${tampered}` } })).status, 401);
    assert.equal((await fetch(server.url + '/api/auth/me', { headers: { authorization: 'Bearer nonsense' } })).status, 401);
  });

  test('refresh rotates; presenting a spent refresh token revokes the whole family', async () => {
    const first = await obtain();
    const r1 = await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: first.refresh_token });
    assert.equal(r1.status, 200);
    const second = await json<Pair>(r1);
    assert.notEqual(second.refresh_token, first.refresh_token);
    const reuse = await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: first.refresh_token });
    assert.equal(reuse.status, 401);
    assert.equal((await json<ErrorBody>(reuse)).error.code, 'invalid_credentials');
    const afterTheft = await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: second.refresh_token });
    assert.equal(afterTheft.status, 401, 'the legitimate descendant died with its family');
  });

  test('revoke ends a refresh token', async () => {
    const pair = await obtain();
    assert.equal((await new Client(server.url).post('/api/auth/token/revoke', { refresh_token: pair.refresh_token })).status, 204);
    assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: pair.refresh_token })).status, 401);
  });

  test('wrong credentials and missing fields', async () => {
    assert.equal((await new Client(server.url).post('/api/auth/token', { username: 'svc', password: 'nope' })).status, 401);
    const missing = await new Client(server.url).post('/api/auth/token', { username: 'svc' });
    assert.equal(missing.status, 400);
    assert.equal((await json<ErrorBody>(missing)).error.code, 'missing_credentials');
  });

  test('a password change or deactivation ends access and refresh tokens', async () => {
    const user = await server.portcullis.users.createUser({ username: 'rotator', password: PASSWORD });
    const pair = await obtain('rotator');
    await server.portcullis.changePassword(user, 'a different passphrase');
    assert.equal((await fetch(server.url + '/api/auth/me', { headers: { authorization: `Bearer ${pair.access_token}` } })).status, 401);
    assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: pair.refresh_token })).status, 401);
    const other = await server.portcullis.users.createUser({ username: 'quitter', password: PASSWORD });
    const p2 = await obtain('quitter');
    await server.portcullis.deactivate(other);
    assert.equal((await fetch(server.url + '/api/auth/me', { headers: { authorization: `Bearer ${p2.access_token}` } })).status, 401);
    assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: p2.refresh_token })).status, 401);
  });

  test('key rotation keeps the old key published and old tokens valid', async () => {
    const before = await obtain();
    await server.portcullis.tokens.keys.rotate();
    const jwks = await json<{ keys: unknown[] }>(await fetch(server.url + '/.well-known/jwks.json'));
    assert.equal(jwks.keys.length, 2);
    assert.equal((await fetch(server.url + '/api/auth/me', { headers: { authorization: `Bearer ${before.access_token}` } })).status, 200);
    const after = await obtain();
    assert.equal((await fetch(server.url + '/api/auth/me', { headers: { authorization: `Bearer ${after.access_token}` } })).status, 200);
  });
});

describe('token state with the Redis session store', () => {
  test('refresh tokens live in Redis beside the sessions, not in the database', async (t) => {
    const { redis, database } = server.portcullis;
    if (!redis) return t.diagnostic('SQL run: refresh tokens are in portcullis_refresh_token (covered above)');
    const before = await database.db.selectFrom('portcullis_refresh_token').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const pair = await obtain();
    const after = await database.db.selectFrom('portcullis_refresh_token').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(after.n), Number(before.n));
    const keys = (await Promise.all(scanTargets(redis.client).map((node) => node.keys(`${redis.prefix}*:rt:*`)))).flat();
    assert.ok(keys.length >= 1);
    assert.ok(!keys.some((k) => k.includes(pair.refresh_token)), 'only hashes are stored');
  });
});
