import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Client, startServer, type TestServer } from './helpers.js';

/**
 * The "done when", at its size: real Django (Debian's python3-django, python3-argon2,
 * python3-bcrypt) builds a database of a few thousand users under every hash format a long-lived
 * Django site holds (test/django/make_bulk_db.py), ONE `portcullis import-django` command imports it,
 * and every one of them logs in over HTTP with the old password and is upgraded to argon2id.
 */
const PYTHON = '/usr/bin/python3';
const DJANGO_DIR = resolve('test/django');
const USERS = 3000;
/** Logins in flight at once, as from a crowd of browsers. */
const IN_FLIGHT = 8;

interface DjangoUser {
  id: number;
  username: string;
  email: string;
  /** null: an unusable password ('!…'), which no password opens. */
  password: string | null;
  format: string;
  active: boolean;
  staff: boolean;
  superuser: boolean;
  /** date_joined in epoch milliseconds. */
  joined: number;
}

let dir: string;
let djangoDb: string;
let portcullisDb: string;
let djangoUsers: DjangoUser[];
let generation: string;

function importDjango(): { stdout: string; ms: number } {
  const started = performance.now();
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'import-django', '--from', djangoDb], {
    env: { PATH: process.env.PATH ?? '', PORTCULLIS_DATABASE_URL: `sqlite:${portcullisDb}`, PORTCULLIS_DATA_DIR: dir },
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(res.status, 0, res.stderr);
  return { stdout: res.stdout, ms: performance.now() - started };
}

/** Runs `task` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

before(() => {
  const check = spawnSync(PYTHON, ['-c', 'import django, argon2, bcrypt'], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`these tests run real Django: apt-get install python3-django python3-argon2 python3-bcrypt (${PYTHON}: ${check.stderr || check.error})`);
  dir = mkdtempSync(join(tmpdir(), 'portcullis-django-bulk-'));
  djangoDb = join(dir, 'django.sqlite3');
  portcullisDb = join(dir, 'portcullis.sqlite3');
  const made = spawnSync(PYTHON, [join(DJANGO_DIR, 'make_bulk_db.py'), String(USERS)], {
    env: { PATH: process.env.PATH ?? '', DJANGO_DB: djangoDb },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 600_000,
  });
  if (made.status !== 0) throw new Error(`make_bulk_db.py failed: ${made.stderr || String(made.error)}`);
  generation = made.stderr.trim();
  djangoUsers = made.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as DjangoUser);
});
// dir is unset when before() stopped at the Django check; the error that matters is that one.
after(() => dir && rmSync(dir, { recursive: true, force: true }));

describe(`a Django database of ${USERS} mixed users`, () => {
  test('imports with one command, everything kept as it was', (t) => {
    for (const line of generation.split('\n')) t.diagnostic(`django: ${line}`);
    assert.equal(djangoUsers.length, USERS);
    const formats = new Set(djangoUsers.map((d) => d.format));
    assert.ok(formats.size >= 35, [...formats].join(', '));

    // Django lets two accounts share a mailbox (in any case); portcullis keeps it for the lowest id.
    const owners = new Map<string, number>();
    const expectedEmail = new Map<number, string | null>();
    for (const d of [...djangoUsers].sort((a, b) => a.id - b.id)) {
      const key = d.email.toLowerCase();
      if (!d.email) expectedEmail.set(d.id, null);
      else if (owners.has(key)) expectedEmail.set(d.id, null);
      else {
        owners.set(key, d.id);
        expectedEmail.set(d.id, d.email);
      }
    }
    const withoutEmail = djangoUsers.filter((d) => d.email && expectedEmail.get(d.id) === null).length;
    assert.ok(withoutEmail > 0, 'the database has shared mailboxes');
    // Django's usernames are case-sensitive, portcullis's login is not: "alice" would be a second
    // account behind the login that reaches "Alice", so the later one is skipped, and said so.
    const Alice = djangoUsers.find((d) => d.username === 'Alice')!;
    const alice = djangoUsers.find((d) => d.username === 'alice')!;
    assert.ok(Alice.id < alice.id);

    const { stdout, ms } = importDjango();
    assert.match(stdout, new RegExp(`^${USERS - 1} users imported, 0 updated, 0 unchanged, 1 skipped in ([\\d.]+) s\\.$`, 'm'));
    assert.match(stdout, new RegExp(`^Skipped .*\\n  #${alice.id} alice: username alice already belongs to user #${Alice.id} \\(Alice\\) of this Django database$`, 'm'));
    assert.match(stdout, /^Groups: 6 imported, 0 updated\. Permissions: \d+ imported, 0 updated\.$/m);
    assert.match(stdout, new RegExp(`^${withoutEmail} users imported without their email`, 'm'));
    const importSeconds = /skipped in ([\d.]+) s/.exec(stdout)![1];
    t.diagnostic(`import-django: ${USERS} users in ${importSeconds} s by its own count, ${(ms / 1000).toFixed(1)} s for the whole command`);

    const source = new SQLite(djangoDb, { readonly: true });
    const target = new SQLite(portcullisDb, { readonly: true });
    try {
      const hashes = new Map((source.prepare('select id, password from auth_user').all() as Array<{ id: number; password: string }>).map((r) => [r.id, r.password]));
      const ours = new Map((target.prepare('select * from auth_user').all() as Array<Record<string, unknown>>).map((r) => [r.id, r]));
      assert.equal(ours.size, USERS - 1);
      assert.equal(ours.get(alice.id), undefined, 'alice is not imported');
      for (const d of djangoUsers) {
        if (d === alice) continue;
        const p = ours.get(d.id);
        assert.ok(p, `#${d.id} ${d.username} imported under its id`);
        assert.equal(p.username, d.username);
        assert.equal(p.password, hashes.get(d.id), `${d.username}: the hash as Django wrote it`);
        assert.equal(p.is_active, Number(d.active));
        assert.equal(p.is_staff, Number(d.staff));
        assert.equal(p.is_superuser, Number(d.superuser));
        assert.equal(p.date_joined, d.joined);
        assert.equal(p.email, expectedEmail.get(d.id));
      }
      // Group memberships and direct permissions, by name, user for user.
      const pairs = (db: SQLite.Database, query: string) => (db.prepare(query).all() as Array<{ k: string }>).map((r) => r.k).sort();
      const groupsOf = 'select ug.user_id || \':\' || g.name as k from auth_user_groups ug join auth_group g on g.id = ug.group_id';
      const notAlice = (keys: string[]) => keys.filter((k) => !k.startsWith(`${alice.id}:`));
      assert.deepEqual(pairs(target, groupsOf), notAlice(pairs(source, groupsOf)));
      assert.deepEqual(
        pairs(target, "select up.user_id || ':' || p.app_label || '.' || p.codename as k from auth_user_user_permissions up join auth_permission p on p.id = up.permission_id"),
        notAlice(
          pairs(
            source,
            "select up.user_id || ':' || c.app_label || '.' || p.codename as k from auth_user_user_permissions up join auth_permission p on p.id = up.permission_id join django_content_type c on c.id = p.content_type_id",
          ),
        ),
      );
      // Every imported user has a login key for each identifier it kept, and its origin recorded.
      const keys = target.prepare('select count(*) as n from portcullis_login_key').get() as { n: number };
      const identifiers = [...ours.values()].reduce((n, p) => n + 1 + (p.email && String(p.email).toLowerCase() !== String(p.username).toLowerCase() ? 1 : 0), 0);
      assert.equal(keys.n, identifiers);
      assert.equal((target.prepare('select count(*) as n from portcullis_user_origin where user_id = django_id').get() as { n: number }).n, USERS - 1);
      assert.deepEqual(
        pairs(target, "select g.name || ':' || p.app_label || '.' || p.codename as k from auth_group_permissions gp join auth_group g on g.id = gp.group_id join auth_permission p on p.id = gp.permission_id"),
        pairs(
          source,
          "select g.name || ':' || c.app_label || '.' || p.codename as k from auth_group_permissions gp join auth_group g on g.id = gp.group_id join auth_permission p on p.id = gp.permission_id join django_content_type c on c.id = p.content_type_id",
        ),
      );
    } finally {
      source.close();
      target.close();
    }

    // Run again: nothing changed in Django, so nothing changes here.
    assert.match(importDjango().stdout, new RegExp(`^0 users imported, 0 updated, ${USERS - 1} unchanged, 1 skipped`, 'm'));
  });

  test('every one of them logs in over HTTP with the old password and is upgraded to argon2id', { timeout: 900_000 }, async (t) => {
    // The whole crowd comes from 127.0.0.1, and a few hundred of its logins are refused (inactive
    // and unusable accounts): more failures than one address may have by default (perIp 50;
    // successes give their attempt back), so that one limit is raised. The others stay as they are.
    const server: TestServer = await startServer({ databaseUrl: `sqlite:${portcullisDb}`, throttle: { perIp: USERS * 10 } });
    try {
      const hashers = server.portcullis.hashers;
      assert.equal(hashers.preferred.algorithm, 'argon2');
      const failures: string[] = [];
      const statuses = new Map<number, number>();
      const started = performance.now();
      await pool(djangoUsers, IN_FLIGHT, async (d) => {
        const client = new Client(server.url);
        const res = await client.post('/api/auth/login', { username: d.username, password: d.password ?? 'whatever it was once' });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const body = (await res.json()) as { user?: { id: number; username: string }; error?: string };
        const who = `#${d.id} ${d.username} (${d.format}${d.active ? '' : ', inactive'})`;
        if (d.username === 'alice') {
          // Not imported: her login names Alice, whose password hers is not.
          if (res.status !== 401) failures.push(`${who}: ${res.status} ${JSON.stringify(body)}, expected 401`);
        } else if (d.password !== null && d.active) {
          if (res.status !== 200 || body.user?.id !== d.id) return void failures.push(`${who}: ${res.status} ${JSON.stringify(body)}`);
          const me = await client.get('/api/auth/me');
          const whoami = (await me.json()) as { user?: { id: number } };
          if (me.status !== 200 || whoami.user?.id !== d.id) failures.push(`${who}: /me answered ${me.status}`);
        } else if (res.status !== 401) failures.push(`${who}: ${res.status} ${JSON.stringify(body)}, expected 401`);
      });
      const loginMs = performance.now() - started;
      assert.deepEqual(failures, []);
      const loggedIn = djangoUsers.filter((d) => d.password !== null && d.active && d.username !== 'alice');
      const usableFormats = new Set(djangoUsers.filter((d) => d.password !== null).map((d) => d.format));
      assert.deepEqual(new Set(loggedIn.map((d) => d.format)), usableFormats, 'users of every hash format logged in');
      const refused = djangoUsers.length - loggedIn.length;
      assert.deepEqual(Object.fromEntries(statuses), { 200: loggedIn.length, 401: refused });
      t.diagnostic(
        `login pass: ${djangoUsers.length} logins (${loggedIn.length} in, ${refused} refused), ${IN_FLIGHT} in flight, in ${(loginMs / 1000).toFixed(1)} s (${(djangoUsers.length / (loginMs / 1000)).toFixed(0)}/s), each with GET /me`,
      );

      const target = new SQLite(portcullisDb, { readonly: true });
      const stored = new Map((target.prepare('select id, password from auth_user').all() as Array<{ id: number; password: string }>).map((r) => [r.id, r.password]));
      target.close();
      for (const d of djangoUsers) {
        if (d.username === 'alice') continue;
        const encoded = stored.get(d.id)!;
        if (d.password === null) {
          assert.equal(hashers.isPasswordUsable(encoded), false, `${d.username}: still unusable`);
        } else if (d.active) {
          assert.match(encoded, /^argon2\$argon2id\$v=19\$/, `${d.username} (${d.format}) upgraded`);
          assert.equal(hashers.preferred.mustUpdate(encoded), false, `${d.username}: at the current cost`);
        } else {
          // Refused for being inactive, not for a hash portcullis could not read.
          assert.ok(await hashers.checkPassword(d.password, encoded), `${d.username} (${d.format}): the password still verifies`);
        }
      }

      // After the upgrade: the same password opens the account again, a wrong one does not.
      const problems: string[] = [];
      const sample = loggedIn.filter((_, i) => i % 20 === 0);
      await pool(sample, IN_FLIGHT, async (d) => {
        const again = await new Client(server.url).post('/api/auth/login', { username: d.username, password: d.password });
        if (again.status !== 200) problems.push(`#${d.id} ${d.username}: ${again.status} after the upgrade`);
        const wrong = await new Client(server.url).post('/api/auth/login', { username: d.username, password: `${d.password!}x` });
        if (wrong.status !== 401) problems.push(`#${d.id} ${d.username}: a wrong password answered ${wrong.status}`);
      });
      assert.deepEqual(problems, []);
    } finally {
      await server.close();
    }
  });
});
