/**
 * How long `import-django` takes for a large Django database, and how much memory it holds.
 *
 *   node --import tsx scripts/django-import-bench.ts [USERS=1000000] [postgres://… target]
 *
 * Builds a Django-shaped SQLite database of USERS users (one precomputed hash, a few groups and
 * memberships) in a temporary folder, imports it into a fresh portcullis database (SQLite unless a
 * PostgreSQL URL is given), and prints the time, the rate and the peak RSS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { connectDatabase } from '../src/db/connect.js';
import { migrate } from '../src/db/migrate.js';
import { DEFAULT_USER_FIELDS, resolveConfig } from '../src/config.js';
import { importDjango } from '../src/django/import.js';
import { openDjangoSource } from '../src/django/source.js';

const count = Number(process.argv[2] ?? 1_000_000);
const target = process.argv[3];
const dir = mkdtempSync(join(tmpdir(), 'portcullis-django-bench-'));
const sourcePath = join(dir, 'django.sqlite3');

function buildSource(): void {
  const db = new SQLite(sourcePath);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.exec(`
    create table django_content_type (id integer primary key, app_label varchar(100), model varchar(100));
    create table auth_permission (id integer primary key, name varchar(255), content_type_id integer, codename varchar(100));
    create table auth_group (id integer primary key, name varchar(150) unique);
    create table auth_group_permissions (id integer primary key, group_id integer, permission_id integer);
    create table auth_user (id integer primary key autoincrement, password varchar(128) not null, last_login datetime null,
      is_superuser bool not null, username varchar(150) not null unique, first_name varchar(150) not null,
      last_name varchar(150) not null, email varchar(254) not null, is_staff bool not null, is_active bool not null,
      date_joined datetime not null);
    create table auth_user_groups (id integer primary key, user_id integer, group_id integer);
    create index auth_user_groups_user on auth_user_groups (user_id);
    create table auth_user_user_permissions (id integer primary key, user_id integer, permission_id integer);
    create index auth_user_user_permissions_user on auth_user_user_permissions (user_id);
    create table django_migrations (id integer primary key autoincrement, app varchar(255), name varchar(255), applied datetime);
    insert into django_migrations (app, name, applied) values ('contenttypes', '0001_initial', strftime('%Y-%m-%d %H:%M:%f', 'now'));
    insert into django_content_type values (1, 'auth', 'user');
    insert into auth_permission values (1, 'Can change user', 1, 'change_user'), (2, 'Can view user', 1, 'view_user');
    insert into auth_group values (1, 'staff'), (2, 'customers');
    insert into auth_group_permissions values (1, 1, 1);
  `);
  const hash = 'pbkdf2_sha256$260000$P4zmMvShvg9oe5zS8hbhMB$uSTkZr/uQLM0XH8JdNl61/1kNmdndHrTcIjFio2+464=';
  const user = db.prepare(
    "insert into auth_user values (?, ?, '2024-05-01 10:00:00.123456', 0, ?, 'First', 'Last', ?, 0, 1, '2020-01-01 00:00:00')",
  );
  const group = db.prepare('insert into auth_user_groups (user_id, group_id) values (?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= count; i++) {
      user.run(i, hash, `user${i}`, `user${i}@example.com`);
      group.run(i, i % 10 === 0 ? 1 : 2);
    }
  })();
  db.close();
}

let t = Date.now();
buildSource();
console.log(`Built a Django database of ${count.toLocaleString('en')} users in ${((Date.now() - t) / 1000).toFixed(1)} s.`);

const handle = connectDatabase(target ?? `sqlite:${join(dir, 'portcullis.sqlite3')}`);
const { loginFields } = resolveConfig({}, {}, {});
await migrate(handle, DEFAULT_USER_FIELDS, loginFields);
const source = await openDjangoSource(sourcePath);
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
t = Date.now();
const summary = await importDjango(handle, source, { userFields: DEFAULT_USER_FIELDS, loginFields });
const seconds = (Date.now() - t) / 1000;
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
console.log(
  `Imported ${summary.users.imported.toLocaleString('en')} users in ${seconds.toFixed(1)} s (${Math.round(count / seconds).toLocaleString('en')}/s), peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB.`,
);
await source.close();
await handle.close();
rmSync(dir, { recursive: true, force: true });
