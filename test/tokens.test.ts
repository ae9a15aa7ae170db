import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { Client, json, PASSWORD, startServer, type ErrorBody, type TestServer } from './helpers.js';
import { createHash } from 'node:crypto';
import { scanTargets } from '../src/redis.js';
import type { User } from '../src/users/types.js';
import { confirmPasswordReset } from '../src/flows/reset.js';
import { refreshTokens, revokeTokens } from '../src/flows/tokens.js';
import { encodeUid } from '../src/auth/password-reset.js';
import { RedisRefreshTokenStore, SqlRefreshTokenStore, type RefreshTokenRecord, type RefreshTokenStore } from '../src/tokens/refresh-store.js';

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

  test('the refresh flow: every dead token is one refusal, a reuse revokes the family and raises the alarm once', async () => {
    const p = server.portcullis;
    const user = await p.users.createUser({ username: 'flow-refresh', password: PASSWORD });
    const client = { ip: '203.0.113.9', userAgent: null };
    const refused = { outcome: 'refused' };
    const alarms: unknown[] = [];
    const onReused = (event: unknown) => alarms.push(event);
    p.events.on('refresh_token_reused', onReused);
    try {
      const first = await p.issueTokens(user);
      const second = await refreshTokens(p, first.refresh_token, client);
      assert.equal(second.outcome, 'refreshed');
      if (second.outcome !== 'refreshed') return;
      for (const junk of [undefined, 42, '', 'x'.repeat(201), 'never-issued']) assert.deepEqual(await refreshTokens(p, junk, client), refused);
      assert.deepEqual(alarms, []);

      assert.deepEqual(await refreshTokens(p, first.refresh_token, client), refused, 'spent');
      assert.deepEqual(alarms, [{ userId: user.id, request: client }], 'a reuse is a security event');
      assert.deepEqual(await refreshTokens(p, second.tokens.refresh_token, client), refused, 'the family died with the reuse');
      assert.equal(alarms.length, 1, 'a revoked token is refused without another alarm');

      const third = await p.issueTokens(user);
      for (const token of [third.refresh_token, third.refresh_token, 'never-issued', undefined]) await revokeTokens(p, token);
      assert.deepEqual(await refreshTokens(p, third.refresh_token, client), refused, 'revoked, and revoking again is harmless');

      const fourth = await p.issueTokens(user);
      await p.users.update(user.id, { is_active: false });
      assert.deepEqual(await refreshTokens(p, fourth.refresh_token, client), refused, 'an inactive user gets nothing');
      await p.users.update(user.id, { is_active: true });
      assert.deepEqual(await refreshTokens(p, fourth.refresh_token, client), refused, 'and that family stays revoked after reactivation');
      assert.equal(alarms.length, 1);
    } finally {
      p.events.off('refresh_token_reused', onReused);
    }
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

/**
 * A revocation is final: a refresh rotating at the moment a user's tokens are revoked must not leave
 * a live successor behind. `duringRotation` arms a one-shot hook on the user lookup that refresh does
 * between checking the old token and rotating it, and runs the revocation there: the interleaving of
 * the old bug (spend done, revocation runs, successor stored after) forced every time.
 */
describe('a revocation is final', () => {
  let chief: User;
  before(async () => {
    chief = await server.portcullis.users.createSuperuser({ username: 'chief', password: PASSWORD });
  });

  function duringRotation(revoke: () => Promise<unknown>): void {
    const users = server.portcullis.users;
    const original = users.getById;
    users.getById = async function (this: typeof users, id: number) {
      users.getById = original;
      const found = await original.call(this, id);
      await revoke();
      return found;
    };
  }

  const refresh = (refreshToken: string) => new Client(server.url).post('/api/auth/token/refresh', { refresh_token: refreshToken });
  const me = (accessToken: string) => fetch(server.url + '/api/auth/me', { headers: { authorization: `Bearer ${accessToken}` } });

  /** Refreshes once with the revocation landing mid-rotation; no token of the family works after. */
  async function assertRacingRefreshDies(username: string, revoke: (user: User) => Promise<unknown>): Promise<void> {
    const user = await server.portcullis.users.createUser({ username, password: PASSWORD });
    const pair = await server.portcullis.issueTokens(user);
    duringRotation(() => revoke(user));
    const racing = await refresh(pair.refresh_token);
    assert.equal(racing.status, 401, 'the rotation that lost to the revocation hands out nothing');
    assert.equal((await refresh(pair.refresh_token)).status, 401);
  }

  test('a password change during a rotation leaves no live successor', async () => {
    await assertRacingRefreshDies('race-change', (user) => server.portcullis.changePassword(user, 'a brand new passphrase 1'));
  });

  test('a password reset during a rotation leaves no live successor', async () => {
    await assertRacingRefreshDies('race-reset', (user) =>
      confirmPasswordReset(server.portcullis, '127.0.0.1', encodeUid(user.id), server.portcullis.passwordResetTokens.makeToken(user), 'a brand new passphrase 2'),
    );
  });

  test('a deactivation during a rotation leaves no live successor', async () => {
    await assertRacingRefreshDies('race-deactivate', (user) => server.portcullis.deactivate(user));
  });

  test("an admin's revoke-sessions during a rotation leaves no live successor", async () => {
    const { access_token } = await server.portcullis.issueTokens(chief);
    await assertRacingRefreshDies('race-admin', async (user) => {
      const res = await fetch(`${server.url}/api/admin/users/${user.id}/revoke-sessions`, { method: 'POST', headers: { authorization: `Bearer ${access_token}` } });
      assert.equal(res.status, 200);
    });
  });

  test('theft detection during a rotation leaves no live successor', async () => {
    const user = await server.portcullis.users.createUser({ username: 'race-theft', password: PASSWORD });
    const first = await server.portcullis.issueTokens(user);
    const second = await json<Pair>(await refresh(first.refresh_token));
    // The thief replays the spent first token while the holder rotates the second.
    duringRotation(async () => assert.equal((await refresh(first.refresh_token)).status, 401));
    assert.equal((await refresh(second.refresh_token)).status, 401);
    assert.equal((await refresh(second.refresh_token)).status, 401);
  });

  test('a successor stored just before a revocation dies with its family', async () => {
    const user = await server.portcullis.users.createUser({ username: 'race-after', password: PASSWORD });
    const first = await server.portcullis.issueTokens(user);
    const second = await json<Pair>(await refresh(first.refresh_token));
    await server.portcullis.endEverything(user.id);
    assert.equal((await refresh(second.refresh_token)).status, 401);
    const third = await server.portcullis.issueTokens(user);
    const fourth = await json<Pair>(await refresh(third.refresh_token));
    // Revoking the spent ancestor revokes the family, its newest token too.
    assert.equal((await new Client(server.url).post('/api/auth/token/revoke', { refresh_token: third.refresh_token })).status, 204);
    assert.equal((await refresh(fourth.refresh_token)).status, 401);
  });

  test('a family issued under an old password is refused, even if nothing revoked it', async () => {
    // A login that checked the old password just before a change, its tokens stored just after.
    const user = await server.portcullis.users.createUser({ username: 'race-login', password: PASSWORD });
    const pair = await server.portcullis.issueTokens(user);
    await server.portcullis.users.setPassword(user, 'a brand new passphrase 3');
    assert.equal((await me(pair.access_token)).status, 401);
    assert.equal((await refresh(pair.refresh_token)).status, 401);
  });

  for (const kind of ['revoke-sessions', 'password change'] as const) {
    test(`many refreshes racing a ${kind}: no token they produced refreshes afterwards`, async () => {
      const user = await server.portcullis.users.createUser({ username: `crowd-${kind.replace(' ', '-')}`, password: PASSWORD });
      const families = await Promise.all(Array.from({ length: 8 }, () => server.portcullis.issueTokens(user)));
      const issued: Pair[] = [...families];
      let revocation: Promise<unknown> | undefined;
      const revoke = () =>
        kind === 'revoke-sessions' ? server.portcullis.endEverything(user.id) : server.portcullis.changePassword(user, 'a brand new passphrase 4');
      // Each family rotates as fast as it can; the revocation starts once a dozen rotations succeeded.
      await Promise.all(
        families.map(async (pair) => {
          let current = pair.refresh_token;
          for (let step = 0; step < 100; step++) {
            const res = await refresh(current);
            if (res.status !== 200) break;
            const next = await json<Pair>(res);
            issued.push(next);
            current = next.refresh_token;
            if (issued.length >= 8 + 12) revocation ??= revoke();
          }
        }),
      );
      await revocation;
      assert.ok(revocation, 'the revocation ran while refreshes were rotating');
      const answers = await Promise.all(issued.map(async (p) => (await refresh(p.refresh_token)).status));
      assert.deepEqual(answers.filter((s) => s !== 401), [], 'every refresh token is dead');
      if (kind === 'password change') {
        const access = await Promise.all(issued.map(async (p) => (await me(p.access_token)).status));
        assert.deepEqual(access.filter((s) => s !== 401), [], 'every access token is dead');
      }
    });
  }
});

/** The stores themselves, in the orders a rotation and a revocation can meet. */
describe('refresh-token stores: rotation against revocation', () => {
  const HOUR = 3_600_000;
  let store: RefreshTokenStore;
  let userId: number;
  before(async () => {
    const { database, redis, config } = server.portcullis;
    store = redis ? new RedisRefreshTokenStore(redis, config.secretKey) : new SqlRefreshTokenStore(database);
    userId = (await server.portcullis.users.createUser({ username: 'store-user', password: PASSWORD })).id;
  });

  const record = (family: string, now: number): RefreshTokenRecord => ({ family, userId, authHash: null, createdAt: now, expiresAt: now + HOUR, usedAt: null, revokedAt: null });

  async function newFamily(family: string, now: number): Promise<string> {
    const token = store.generate(userId);
    await store.insert(token, record(family, now));
    return token;
  }

  test('a rotation after a revocation of the user stores nothing', async () => {
    const now = Date.now();
    const first = await newFamily('store-a', now);
    await store.revokeForUser(userId, now);
    const successor = store.generate(userId);
    assert.equal(await store.rotate(first, successor, record('store-a', now), now), false);
    assert.equal(await store.get(successor), null);
  });

  test('a rotation after a revocation of the family stores nothing', async () => {
    const now = Date.now();
    const first = await newFamily('store-b', now);
    await store.revokeFamily(userId, 'store-b', now);
    const successor = store.generate(userId);
    assert.equal(await store.rotate(first, successor, record('store-b', now), now), false);
    assert.equal(await store.get(successor), null);
  });

  test('a successor rotated in before a revocation is revoked by it', async () => {
    const now = Date.now();
    const cases = [
      ['store-c1', () => store.revokeForUser(userId, now)],
      ['store-c2', () => store.revokeFamily(userId, 'store-c2', now)],
    ] as const;
    for (const [family, revoke] of cases) {
      const first = await newFamily(family, now);
      const successor = store.generate(userId);
      assert.equal(await store.rotate(first, successor, record(family, now), now), true);
      await revoke();
      assert.notEqual((await store.get(successor))?.revokedAt ?? null, null, family);
    }
  });

  test('rotations racing a revocation leave every stored token revoked', async () => {
    const now = Date.now();
    const heads = await Promise.all(Array.from({ length: 16 }, (_, i) => newFamily(`store-race-${i}`, now)));
    const stored: string[] = [...heads];
    await Promise.all([
      ...heads.map(async (head, i) => {
        let current = head;
        for (let step = 0; step < 10; step++) {
          const next = store.generate(userId);
          if (!(await store.rotate(current, next, record(`store-race-${i}`, now), now))) break;
          stored.push(next);
          current = next;
        }
      }),
      store.revokeForUser(userId, now),
    ]);
    const live = (await Promise.all(stored.map((t) => store.get(t)))).filter((r) => r !== null && r.revokedAt === null);
    assert.deepEqual(live, []);
  });

  test('on SQL, a token stored into a revoked family is refused whatever its own row says', async (t) => {
    const { redis, database } = server.portcullis;
    if (redis) return t.diagnostic('Redis run: rotation and revocation are scripts on one slot; nothing can be stored after');
    const user = await server.portcullis.users.getById(userId);
    const pair = await server.portcullis.issueTokens(user!);
    const family = (await store.get(pair.refresh_token))!.family;
    await store.revokeForUser(userId, Date.now());
    // What the old code did: a successor inserted, unrevoked, after the revocation had run.
    const late = store.generate(userId);
    await database.db
      .insertInto('portcullis_refresh_token')
      .values({ token_hash: createHash('sha256').update(late).digest('hex'), family_id: family, user_id: userId, created_at: Date.now(), expires_at: Date.now() + HOUR, used_at: null, revoked_at: null })
      .execute();
    assert.notEqual((await store.get(late))?.revokedAt ?? null, null);
    assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: late })).status, 401);
  });
});
