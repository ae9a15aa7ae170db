import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { createPortcullis, type Portcullis } from '../src/portcullis.js';
import { openDjangoSource } from '../src/django/source.js';

/**
 * `import-django --from mysql://…`: real Django (Debian's python3-django with python3-mysqldb)
 * builds its database on MySQL/MariaDB under every hasher it has shipped, portcullis imports it into
 * SQLite, and the users log in with their old passwords. Runs with `npm run test:mysql`, i.e. when a
 * server answers at PORTCULLIS_TEST_MYSQL_URL (default root@127.0.0.1:3306); a throwaway database
 * `django_src_<pid>` is created beside the one named there and dropped afterwards.
 */
const ENABLED = process.env.PORTCULLIS_TEST_DATABASE === 'mysql' || Boolean(process.env.PORTCULLIS_TEST_MYSQL_URL);
const ADMIN_URL = process.env.PORTCULLIS_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const PYTHON = '/usr/bin/python3';
const DJANGO_DIR = resolve('test/django');
const SECRET = 'django-insecure-test-key-shared-with-portcullis';
const USERS = 28; // two of each hash format, plus Django's version-less argon2 user
const JOINED = Date.UTC(2015, 5, 1, 12, 30, 45, 123);

interface DjangoUser {
  id: number;
  username: string;
  password: string | null;
  algorithm: string;
}

const dbName = `django_src_${process.pid}`;
let sourceUrl: string;
let admin: Connection;
let dir: string;
let portcullisDb: string;
let djangoUsers: DjangoUser[];

function importDjango(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'import-django', ...args], {
    env: { PATH: process.env.PATH ?? '', PORTCULLIS_DATABASE_URL: `sqlite:${portcullisDb}`, PORTCULLIS_DATA_DIR: dir },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

function importOk(...args: string[]): string {
  const res = importDjango('--from', sourceUrl, ...args);
  assert.equal(res.status, 0, res.stderr);
  return res.stdout;
}

async function source(sqlText: string, params: unknown[] = []): Promise<RowDataPacket[]> {
  const [rows] = await admin.query<RowDataPacket[]>(sqlText, params);
  return rows;
}

function open(): Promise<Portcullis> {
  return createPortcullis({
    databaseUrl: `sqlite:${portcullisDb}`,
    cwd: dir,
    env: {},
    dataDir: dir,
    secretKey: 'portcullis-own-secret-0123456789abcdef',
    hasherOptions: { argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } },
  });
}

describe('portcullis import-django --from mysql://', { skip: ENABLED ? false : 'MySQL suite: run with npm run test:mysql' }, () => {
  before(async () => {
    const check = spawnSync(PYTHON, ['-c', 'import django, argon2, bcrypt, MySQLdb'], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`these tests run real Django on MySQL: apt-get install python3-django python3-argon2 python3-bcrypt python3-mysqldb (${check.stderr || String(check.error)})`);
    admin = await createConnection({ uri: ADMIN_URL, timezone: 'Z' });
    await admin.query(`drop database if exists \`${dbName}\``);
    await admin.query(`create database \`${dbName}\` character set utf8mb4`);
    await admin.changeUser({ database: dbName });
    const url = new URL(ADMIN_URL);
    url.pathname = `/${dbName}`;
    sourceUrl = url.toString();
    dir = mkdtempSync(join(tmpdir(), 'portcullis-django-mysql-'));
    portcullisDb = join(dir, 'portcullis.sqlite3');
    djangoUsers = execFileSync(PYTHON, [join(DJANGO_DIR, 'make_db.py'), String(USERS)], {
      env: { PATH: process.env.PATH ?? '', DJANGO_DB_URL: sourceUrl, DJANGO_SECRET_KEY: SECRET },
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as DjangoUser);
  });

  after(async () => {
    if (admin) {
      await admin.query(`drop database if exists \`${dbName}\``);
      await admin.end();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the source reads Django tables with the shared queries, and never writes', async () => {
    const src = await openDjangoSource(sourceUrl);
    try {
      assert.equal(src.kind, 'mysql');
      const columns = await src.columns('auth_user');
      assert.deepEqual(columns.slice(0, 3), ['id', 'password', 'last_login']);
      assert.ok(columns.includes('date_joined'));
      assert.deepEqual(await src.columns('no_such_table'), []);
      // Double-quoted identifiers, `?` placeholders, Django's UTC DATETIME(6) as a Date.
      const [row] = await src.query('select "id", "username", "date_joined", "is_staff" from "auth_user" where "username" = ?', ['user6']);
      assert.equal(row!.username, 'user6');
      assert.ok(row!.date_joined instanceof Date);
      assert.equal((row!.date_joined as Date).getTime(), JOINED);
      assert.equal(row!.is_staff, 1);
      await assert.rejects(src.query('update "auth_user" set "first_name" = ? where "id" = 1', ['X']), /read.only/i);
    } finally {
      await src.close();
    }
  });

  test('a dry run writes nothing; the import copies users, flags, dates, hashes, groups and permissions', async () => {
    assert.match(importOk('--dry-run'), /^Dry run \(nothing written\): 29 users imported, 0 updated, 0 unchanged, 0 skipped/);
    // Small batches: the keyset pages over MySQL are exercised, not just one page.
    const out = importOk('--batch-size', '5');
    assert.match(out, /^29 users imported, 0 updated, 0 unchanged, 0 skipped/m);
    assert.match(out, /Groups: 2 imported/);
    assert.match(out, /#9 user8: email user1@EXAMPLE\.com already belongs to user #2/);

    const target = new SQLite(portcullisDb, { readonly: true });
    const ours = new Map((target.prepare('select * from auth_user').all() as Array<Record<string, unknown>>).map((r) => [Number(r.id), r]));
    target.close();
    const theirs = await source('select * from auth_user order by id');
    assert.equal(ours.size, theirs.length);
    for (const d of theirs) {
      const p = ours.get(Number(d.id));
      assert.ok(p, `user #${String(d.id)} imported`);
      assert.equal(p.username, d.username);
      assert.equal(p.password, d.password);
      assert.equal(p.first_name, d.first_name);
      for (const flag of ['is_active', 'is_staff', 'is_superuser']) assert.equal(p[flag], Number(d[flag]), flag);
      assert.equal(p.date_joined, JOINED);
      assert.equal(p.last_login, d.last_login === null ? null : JOINED);
      assert.equal(p.email, d.email === '' || d.id === 9 ? null : d.email);
    }

    const portcullis = await open();
    try {
      const user0 = (await portcullis.users.getByUsername('user0'))!;
      assert.deepEqual((await portcullis.permissions.userGroups(user0.id)).sort(), ['editors', 'readers']);
      assert.ok(await portcullis.permissions.hasPerm(user0, 'auth.change_user'), 'a permission through the editors group');
      assert.ok(await portcullis.permissions.hasPerm(user0, 'auth.view_group'), 'a permission of the user');
      assert.equal(await portcullis.permissions.hasPerm((await portcullis.users.getByUsername('user1'))!, 'auth.change_user'), false);
    } finally {
      await portcullis.close();
    }
  });

  test('a second run picks up what changed on MySQL and duplicates nothing', async () => {
    await source("update auth_user set first_name = 'Renamed' where username = 'user10'");
    assert.match(importOk(), /^0 users imported, 1 updated, 28 unchanged, 0 skipped/m);
    assert.match(importOk(), /^0 users imported, 0 updated, 29 unchanged, 0 skipped/m);
    const target = new SQLite(portcullisDb, { readonly: true });
    assert.equal((target.prepare("select first_name from auth_user where username = 'user10'").get() as { first_name: string }).first_name, 'Renamed');
    target.close();
  });

  test('every Django password logs in through portcullis and is upgraded to argon2', async () => {
    const portcullis = await open();
    try {
      const algorithms = new Set<string>();
      for (const d of djangoUsers) {
        const user = (await portcullis.users.getById(d.id))!;
        if (d.password === null) {
          assert.equal(portcullis.hashers.isPasswordUsable(user.password), false, 'an unusable password stays unusable');
          continue;
        }
        if (!user.is_active) {
          assert.equal(await portcullis.authenticate({ username: d.username, password: d.password }), null, 'inactive users cannot log in');
          assert.ok(await portcullis.users.checkPassword(user, d.password), `${d.algorithm} verifies`);
          continue;
        }
        algorithms.add(d.algorithm);
        assert.equal(await portcullis.authenticate({ username: d.username, password: d.password + 'x' }), null, `${d.algorithm}: a wrong password fails`);
        assert.ok(await portcullis.authenticate({ username: d.username, password: d.password }), `${d.algorithm} (${d.username}) logs in with the old password`);
        assert.match((await portcullis.users.getById(d.id))!.password, /^argon2\$argon2id\$v=19\$m=1024,t=1,p=1\$/, `${d.algorithm} upgraded`);
        assert.ok(await portcullis.authenticate({ username: d.username, password: d.password }), 'and logs in again after the upgrade');
      }
      assert.equal(algorithms.size, 15, [...algorithms].join(', '));
    } finally {
      await portcullis.close();
    }
    // The upgrade happened in portcullis; the Django database was only read.
    const [row] = await source("select password from auth_user where username = 'user0'");
    assert.match(String(row!.password), /^pbkdf2_sha256\$/);
  });

  test('a MySQL source that cannot be read is a clear error, not a stack trace', () => {
    const url = new URL(sourceUrl);
    url.pathname = `/${dbName}_missing`;
    const res = importDjango('--from', url.toString());
    assert.equal(res.status, 1);
    assert.match(res.stderr, /Unknown database/);
    assert.doesNotMatch(res.stderr, /\n\s+at /);
  });
});
