import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { createPortcullis, type CreateOptions, type Portcullis } from '../src/portcullis.js';
import { buildServer } from '../src/http/server.js';

/**
 * Against real Django (Debian's python3-django, python3-argon2, python3-bcrypt): Django builds a
 * database of users under every hasher it has shipped, portcullis imports it, every user logs in
 * with the old password, and a login on either app holds on the other.
 */
const PYTHON = '/usr/bin/python3';
const DJANGO_DIR = resolve('test/django');
const SECRET = 'django-insecure-test-key-shared-with-portcullis';
const USERS = 140; // ten of each hash format
const SHARED = new Set(['user14', 'user28', 'user42']);
const CHEAP_ARGON2: CreateOptions = { hasherOptions: { argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } } };

interface DjangoUser {
  id: number;
  username: string;
  password: string | null;
  algorithm: string;
}

let dir: string;
let djangoDb: string;
let portcullisDb: string;
let djangoUsers: DjangoUser[];

function django(script: string, ...args: string[]): string {
  return execFileSync(PYTHON, [join(DJANGO_DIR, script), ...args], {
    env: { PATH: process.env.PATH ?? '', DJANGO_DB: djangoDb, DJANGO_SECRET_KEY: SECRET },
    encoding: 'utf8',
  }).trim();
}

function importDjango(...args: string[]) {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'import-django', '--from', djangoDb, ...args], {
    env: { PATH: process.env.PATH ?? '', PORTCULLIS_DATABASE_URL: `sqlite:${portcullisDb}`, PORTCULLIS_DATA_DIR: dir },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(res.status, 0, res.stderr);
  return res.stdout;
}

function open(options: CreateOptions = {}): Promise<Portcullis> {
  return createPortcullis({ databaseUrl: `sqlite:${portcullisDb}`, cwd: dir, env: {}, dataDir: dir, secretKey: 'portcullis-own-secret-0123456789abcdef', ...CHEAP_ARGON2, ...options });
}

before(() => {
  const check = spawnSync(PYTHON, ['-c', 'import django, argon2, bcrypt'], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`these tests run real Django: apt-get install python3-django python3-argon2 python3-bcrypt (${PYTHON}: ${check.stderr || check.error})`);
  dir = mkdtempSync(join(tmpdir(), 'portcullis-django-'));
  djangoDb = join(dir, 'django.sqlite3');
  portcullisDb = join(dir, 'portcullis.sqlite3');
  djangoUsers = django('make_db.py', String(USERS))
    .split('\n')
    .map((line) => JSON.parse(line) as DjangoUser);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('portcullis import-django', () => {
  test('a dry run reports what it would do and writes nothing', () => {
    const out = importDjango('--dry-run');
    assert.match(out, /^Dry run \(nothing written\): 141 users imported, 0 updated, 0 unchanged, 0 skipped/);
    const db = new SQLite(portcullisDb, { readonly: true });
    assert.equal((db.prepare('select count(*) as n from auth_user').get() as { n: number }).n, 0);
    db.close();
  });

  test('imports every user, group and permission with ids, flags, dates and hashes as they are', async () => {
    const out = importDjango();
    assert.match(out, /^141 users imported, 0 updated, 0 unchanged, 0 skipped/m);
    assert.match(out, /Groups: 2 imported/);
    // Django let two accounts share a mailbox; portcullis keeps the first one's and says so.
    assert.match(out, /1 users imported without their email[\s\S]*#9 user8: email user1@EXAMPLE\.com already belongs to user #2/);

    const source = new SQLite(djangoDb, { readonly: true });
    const target = new SQLite(portcullisDb, { readonly: true });
    const djangoRows = source.prepare('select * from auth_user order by id').all() as Array<Record<string, unknown>>;
    const ours = new Map((target.prepare('select * from auth_user').all() as Array<Record<string, unknown>>).map((r) => [r.id, r]));
    for (const d of djangoRows) {
      const p = ours.get(d.id)!;
      assert.ok(p, `user #${String(d.id)} imported`);
      assert.equal(p.username, d.username);
      assert.equal(p.password, d.password);
      for (const flag of ['is_active', 'is_staff', 'is_superuser']) assert.equal(p[flag], d[flag]);
      assert.equal(p.date_joined, Date.UTC(2015, 5, 1, 12, 30, 45, 123));
      assert.equal(p.last_login, d.last_login === null ? null : Date.UTC(2015, 5, 1, 12, 30, 45, 123));
      assert.equal(p.email, d.email === '' || d.id === 9 ? null : d.email);
    }
    source.close();
    target.close();

    const portcullis = await open();
    try {
      const user0 = (await portcullis.users.getByUsername('user0'))!;
      assert.deepEqual((await portcullis.permissions.userGroups(user0.id)).sort(), ['editors', 'readers']);
      assert.ok(await portcullis.permissions.hasPerm(user0, 'auth.change_user'), 'a permission through the editors group');
      assert.ok(await portcullis.permissions.hasPerm(user0, 'auth.view_group'), 'a permission of the user');
      const user1 = (await portcullis.users.getByUsername('user1'))!;
      assert.equal(await portcullis.permissions.hasPerm(user1, 'auth.change_user'), false);
      // Later users get ids after Django's, never one of them.
      const fresh = await portcullis.users.createUser({ username: 'newcomer', password: 'a brand new passphrase' });
      assert.ok(fresh.id > 141);
      await portcullis.users.delete(fresh.id);
    } finally {
      await portcullis.close();
    }
  });

  test('a second run updates what changed in Django and duplicates nothing', () => {
    const source = new SQLite(djangoDb);
    source.prepare("update auth_user set first_name = 'Renamed' where username = 'user10'").run();
    source.close();
    assert.match(importDjango(), /^0 users imported, 1 updated, 140 unchanged, 0 skipped/m);
    assert.match(importDjango(), /^0 users imported, 0 updated, 141 unchanged, 0 skipped/m);
    const target = new SQLite(portcullisDb, { readonly: true });
    assert.equal((target.prepare("select first_name from auth_user where username = 'user10'").get() as { first_name: string }).first_name, 'Renamed');
    assert.equal((target.prepare('select count(*) as n from auth_user').get() as { n: number }).n, 141);
    target.close();
  });

  test('every Django password logs in through portcullis and is upgraded to the preferred hasher', async () => {
    const portcullis = await open();
    try {
      const algorithms = new Set<string>();
      for (const d of djangoUsers) {
        // Kept for the shared-session tests below, in step with Django (others of their format are here).
        if (SHARED.has(d.username)) continue;
        const before = (await portcullis.users.getById(d.id))!;
        if (d.password === null) {
          assert.equal(portcullis.hashers.isPasswordUsable(before.password), false, 'an unusable password stays unusable');
          assert.equal(await portcullis.authenticate({ username: d.username, password: '' }), null);
          continue;
        }
        algorithms.add(d.algorithm);
        if (!before.is_active) {
          // Inactive users cannot log in, but their password is still theirs.
          assert.equal(await portcullis.authenticate({ username: d.username, password: d.password }), null);
          assert.ok(await portcullis.users.checkPassword(before, d.password), `${d.algorithm} verifies`);
          continue;
        }
        assert.equal(await portcullis.authenticate({ username: d.username, password: d.password + 'x' }), null, `${d.algorithm}: a wrong password fails`);
        const auth = await portcullis.authenticate({ username: d.username, password: d.password });
        assert.ok(auth, `${d.algorithm} (${d.username}) logs in with the old password`);
        const after = (await portcullis.users.getById(d.id))!;
        assert.match(after.password, /^argon2\$argon2id\$v=19\$m=1024,t=1,p=1\$/, `${d.algorithm} upgraded`);
        assert.ok(await portcullis.authenticate({ username: d.username, password: d.password }), 'and logs in again after the upgrade');
      }
      assert.equal(algorithms.size, 15, [...algorithms].join(', '));
    } finally {
      await portcullis.close();
    }
  });
});

describe('PORTCULLIS_SESSION_STORE=django: one login on both apps', () => {
  const djangoMode = (): CreateOptions => ({ sessionStore: 'django', djangoSecretKey: SECRET, djangoDatabaseUrl: `sqlite:${djangoDb}` });

  test('needs the Django secret key', async () => {
    await assert.rejects(open({ sessionStore: 'django' }), /PORTCULLIS_DJANGO_SECRET_KEY/);
  });

  test('a Django login is a portcullis login, over HTTP with the sessionid cookie', async () => {
    const key = django('session.py', 'login', 'user14', djangoUsers[14]!.password!);
    assert.match(key, /^[a-z0-9]{32}$/);
    const portcullis = await open(djangoMode());
    const app = await buildServer(portcullis, { logger: false });
    try {
      const res = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: `sessionid=${key}` } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((res.json() as { user: { username: string } }).user.username, 'user14');
      const listed = await app.inject({ method: 'GET', url: '/api/auth/sessions', headers: { cookie: `sessionid=${key}` } });
      assert.equal(listed.statusCode, 200, listed.body);
      assert.equal((listed.json() as { sessions: unknown[] }).sessions.length, 1);
      // A logout on Django ends it on portcullis too: at once for anything that changes state, and for
      // reads within PORTCULLIS_AUTH_CACHE_MS (the auth cache's bound on changes made elsewhere).
      django('session.py', 'logout', key);
      const revoke = await app.inject({ method: 'POST', url: '/api/auth/sessions/revoke-others', headers: { cookie: `sessionid=${key}` } });
      assert.equal(revoke.statusCode, 401, revoke.body);
      await sleep(portcullis.config.authCacheMs + 50);
      assert.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: `sessionid=${key}` } })).statusCode, 401);
    } finally {
      await app.close();
      await portcullis.close();
    }
  });

  test("a portcullis login is a Django login, even after the hash upgrade; a portcullis logout ends both", async () => {
    const d = djangoUsers.find((u) => u.username === 'user28')!; // pbkdf2_sha256, not yet upgraded
    const portcullis = await open(djangoMode());
    try {
      const auth = (await portcullis.authenticate({ username: d.username, password: d.password! }))!;
      assert.ok(auth);
      const { key, record } = await portcullis.login(auth.user, auth.backend, { ip: '127.0.0.1', userAgent: 'test' });
      assert.match(key, /^[a-z0-9]{32}$/);
      // The upgraded hash went to Django's auth_user too, so both apps agree on the session auth hash.
      assert.match(django('session.py', 'password', d.username), /^argon2\$argon2id\$/);
      assert.equal(django('session.py', 'whois', key), d.username);
      assert.equal((await portcullis.getUser(key))?.user.username, d.username);
      await portcullis.logout(record, auth.user);
      assert.equal(django('session.py', 'whois', key), '');
    } finally {
      await portcullis.close();
    }
  });

  test('a password change on portcullis reaches Django and ends the other sessions on both', async () => {
    const d = djangoUsers.find((u) => u.username === 'user42')!;
    const djangoKey = django('session.py', 'login', d.username, d.password!);
    const portcullis = await open(djangoMode());
    try {
      const auth = (await portcullis.authenticate({ username: d.username, password: d.password! }))!;
      const { record } = await portcullis.login(auth.user, auth.backend);
      const { session } = await portcullis.changePassword(auth.user, 'a whole new passphrase', record);
      assert.equal(django('session.py', 'whois', djangoKey), '', "the Django app's own session ended");
      assert.equal(django('session.py', 'whois', session!.key), d.username, 'the current session goes on, on both');
      assert.equal(django('session.py', 'login', d.username, 'a whole new passphrase').length, 32);
    } finally {
      await portcullis.close();
    }
  });
});
