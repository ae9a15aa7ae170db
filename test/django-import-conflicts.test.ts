import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { createPortcullis, type Portcullis } from '../src/portcullis.js';
import { Client, startServer } from './helpers.js';

/**
 * `import-django` into a portcullis database that already has users of its own: real Django
 * (Debian's python3-django) builds the source, and the import must take nothing it did not create.
 * Nothing of the existing accounts changes (every column, group, permission and login key), every
 * conflict is listed by the dry run and again by the real run, and a re-import touches only the users
 * it imported.
 */
const PYTHON = '/usr/bin/python3';
const DJANGO_DIR = resolve('test/django');
const SECRET = 'django-insecure-test-key-shared-with-portcullis';
const MADE = 14; // make_db.py: user0…user13 (ids 1…14) and argon2_noversion (15)
const CHEAP = { hasherOptions: { argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } } };

/** Users portcullis had before any import; their ids 1…5 are Django's first five. */
const OURS = [
  { username: 'root', email: 'root@portcullis.example', password: 'the root passphrase', superuser: true },
  { username: 'carol', email: 'carol@portcullis.example', password: 'carol passphrase 1' },
  { username: 'user5@example.com', password: 'a passphrase for user5-at' }, // Django's user5 has this email
  { username: 'frank', email: 'Dora@Example.org', password: 'frank passphrase 1' }, // Django's dora@example.org is a username
  { username: 'heidi@mail.example', password: 'heidi passphrase 1' }, // Django's ivan has it as his email
];

/** Users added to the Django database, after make_db.py's. */
const THEIRS = [
  { username: 'Alice', email: 'alice@django.example', password: 'alice passphrase' },
  { username: 'alice', email: 'alice2@django.example', password: 'other alice passphrase' }, // Django: another person
  { username: 'carol@portcullis.example', email: 'c@django.example', password: 'carol-at passphrase' },
  { username: 'dora@example.org', password: 'dora passphrase' },
  { username: 'ivan', email: 'Heidi@Mail.example', password: 'ivan passphrase' },
  { username: 'ken', email: 'JUDY@corp.example', password: 'ken passphrase' },
  { username: 'judy@corp.example', password: 'judy passphrase' }, // a higher id than ken's, and still keeps it
];

let dir: string;
let djangoDb: string;
let portcullisDb: string;
let theirs: Map<string, number>;
let ourIds: number[];
let ourState: string;

function django(script: string, ...args: string[]): string {
  return execFileSync(PYTHON, [join(DJANGO_DIR, script), ...args], { env: { PATH: process.env.PATH ?? '', DJANGO_DB: djangoDb, DJANGO_SECRET_KEY: SECRET }, encoding: 'utf8' }).trim();
}

function importDjango(args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'import-django', '--from', djangoDb, ...args], {
    env: { PATH: process.env.PATH ?? '', PORTCULLIS_DATABASE_URL: `sqlite:${portcullisDb}`, PORTCULLIS_DATA_DIR: dir, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function open(options: Record<string, unknown> = {}): Promise<Portcullis> {
  return createPortcullis({ databaseUrl: `sqlite:${portcullisDb}`, cwd: dir, env: {}, dataDir: dir, secretKey: 'portcullis-own-secret-0123456789abcdef', ...CHEAP, ...options });
}

/** Everything portcullis holds about these users, as one comparable text. */
function stateOf(ids: number[]): string {
  const db = new SQLite(portcullisDb, { readonly: true });
  try {
    const list = ids.join(',');
    const all = (query: string) => db.prepare(query).all();
    return JSON.stringify({
      users: all(`select * from auth_user where id in (${list}) order by id`),
      groups: all(`select ug.user_id, g.name from auth_user_groups ug join auth_group g on g.id = ug.group_id where ug.user_id in (${list}) order by 1, 2`),
      perms: all(`select up.user_id, p.app_label, p.codename from auth_user_user_permissions up join auth_permission p on p.id = up.permission_id where up.user_id in (${list}) order by 1, 2, 3`),
      groupPerms: all(`select g.name, p.app_label, p.codename from auth_group_permissions gp join auth_group g on g.id = gp.group_id join auth_permission p on p.id = gp.permission_id where g.name = 'ops' order by 1, 2, 3`),
      keys: all(`select * from portcullis_login_key where user_id in (${list}) order by key_hash`),
      origins: all(`select * from portcullis_user_origin where user_id in (${list})`),
    });
  } finally {
    db.close();
  }
}

function count(query: string): number {
  const db = new SQLite(portcullisDb, { readonly: true });
  try {
    return (db.prepare(query).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** The conflict lines of a summary ("  #id name: …"), which a dry run and a real run must share. */
function conflictLines(out: string): string[] {
  return out.split('\n').filter((l) => l.startsWith('  #'));
}

before(async () => {
  const check = spawnSync(PYTHON, ['-c', 'import django, argon2, bcrypt'], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`these tests run real Django: apt-get install python3-django python3-argon2 python3-bcrypt (${PYTHON}: ${check.stderr || check.error})`);
  dir = mkdtempSync(join(tmpdir(), 'portcullis-django-conflicts-'));
  djangoDb = join(dir, 'django.sqlite3');
  portcullisDb = join(dir, 'portcullis.sqlite3');
  django('make_db.py', String(MADE));
  theirs = new Map(
    django('add_users.py', JSON.stringify(THEIRS))
      .split('\n')
      .map((line) => JSON.parse(line) as { id: number; username: string })
      .map((u) => [u.username, u.id]),
  );
  const portcullis = await open();
  try {
    ourIds = [];
    for (const u of OURS) {
      const input = { username: u.username, email: u.email, password: u.password };
      const made = u.superuser ? await portcullis.users.createSuperuser(input) : await portcullis.users.createUser(input);
      ourIds.push(made.id);
    }
    // A group and permissions of portcullis's own, which the import knows nothing of.
    await portcullis.permissions.addUserToGroup(ourIds[0]!, 'ops');
    await portcullis.permissions.grantToGroup('ops', 'auth.delete_user');
    await portcullis.permissions.grantToUser(ourIds[1]!, 'auth.change_user');
  } finally {
    await portcullis.close();
  }
  assert.deepEqual(ourIds, [1, 2, 3, 4, 5]);
  ourState = stateOf(ourIds);
});
after(() => dir && rmSync(dir, { recursive: true, force: true }));

describe('import-django into a database that has users of its own', () => {
  test('ids that belong to portcullis users refuse the import: the dry run and the real run list every conflict, nothing is written', () => {
    const dry = importDjango(['--dry-run']);
    assert.equal(dry.status, 1, dry.stderr);
    assert.match(dry.stdout, /^Dry run: the import would be refused \(nothing written\): 5 Django users have an id that belongs to a portcullis user who did not come from them\.$/m);
    const lines = conflictLines(dry.stdout);
    const expected = [
      // Every Django id that a portcullis user has.
      '  #1 user0: id 1 belongs to portcullis user #1 (root), not imported from Django',
      '  #2 user1: id 2 belongs to portcullis user #2 (carol), not imported from Django',
      '  #3 user2: id 3 belongs to portcullis user #3 (user5@example.com), not imported from Django',
      '  #4 user3: id 4 belongs to portcullis user #4 (frank), not imported from Django',
      '  #5 user4: id 5 belongs to portcullis user #5 (heidi@mail.example), not imported from Django',
      // Identifiers of portcullis accounts, through any login field and in any letter case.
      '  #6 user5: email user5@example.com already belongs to portcullis user #3 (user5@example.com) as its username, not imported from Django',
      `  #${theirs.get('ivan')} ivan: email Heidi@mail.example already belongs to portcullis user #5 (heidi@mail.example) as its username, not imported from Django`,
      `  #${theirs.get('carol@portcullis.example')} carol@portcullis.example: username carol@portcullis.example already belongs to portcullis user #2 (carol) as its email, not imported from Django`,
      `  #${theirs.get('dora@example.org')} dora@example.org: username dora@example.org already belongs to portcullis user #4 (frank) as its email, not imported from Django`,
      // Identifiers two Django users share in portcullis's normal form.
      '  #9 user8: email user1@EXAMPLE.com already belongs to user #2 (user1) of this Django database',
      `  #${theirs.get('alice')} alice: username alice already belongs to user #${theirs.get('Alice')} (Alice) of this Django database`,
      `  #${theirs.get('ken')} ken: email JUDY@corp.example already belongs to user #${theirs.get('judy@corp.example')} (judy@corp.example) of this Django database as its username`,
    ];
    assert.deepEqual([...lines].sort(), [...expected].sort(), dry.stdout);
    assert.match(dry.stdout, /^Ids that belong to other portcullis users/m);
    assert.match(dry.stdout, /^Would be skipped/m);

    const real = importDjango([]);
    assert.equal(real.status, 1, real.stderr);
    assert.match(real.stdout, /^Import refused \(nothing written\): 5 Django users/m);
    assert.deepEqual(conflictLines(real.stdout), lines, 'the real run lists the same conflicts');
    assert.equal(count('select count(*) as n from auth_user'), OURS.length);
    assert.equal(count('select count(*) as n from auth_group'), 1);
    assert.equal(count('select count(*) as n from portcullis_user_origin'), 0);
    assert.equal(stateOf(ourIds), ourState);
  });

  test('--remap-ids imports the others under new ids and leaves every existing account as it was', async () => {
    const dry = importDjango(['--remap-ids', '--dry-run']);
    assert.equal(dry.status, 0, dry.stderr);
    const total = MADE + 1 + THEIRS.length;
    const skipped = 3; // alice, carol@portcullis.example, dora@example.org
    assert.match(dry.stdout, new RegExp(`^Dry run \\(nothing written\\): ${total - skipped} users imported, 0 updated, 0 unchanged, ${skipped} skipped`));
    assert.equal(count('select count(*) as n from auth_user'), OURS.length, 'the dry run wrote nothing');

    const real = importDjango(['--remap-ids']);
    assert.equal(real.status, 0, real.stderr);
    assert.match(real.stdout, new RegExp(`^${total - skipped} users imported, 0 updated, 0 unchanged, ${skipped} skipped`, 'm'));
    assert.deepEqual(conflictLines(real.stdout), conflictLines(dry.stdout), 'the real run lists what the dry run did');
    const maxDjangoId = Math.max(...theirs.values());
    for (let i = 1; i <= 5; i++) assert.ok(real.stdout.includes(`; imported as #${maxDjangoId + i}`), `Django #${i} gets #${maxDjangoId + i}`);
    assert.match(real.stdout, /^4 users imported without their email, because another account already has it/m);

    assert.equal(stateOf(ourIds), ourState, 'nothing of the existing accounts changed');
    const db = new SQLite(portcullisDb, { readonly: true });
    try {
      const byName = new Map((db.prepare('select * from auth_user').all() as Array<Record<string, unknown>>).map((r) => [String(r.username), r]));
      // A free Django id is kept; a taken one is mapped, and the mapping recorded.
      assert.equal(byName.get('user7')!.id, 8);
      assert.equal(byName.get('user0')!.id, maxDjangoId + 1);
      assert.equal(byName.get('user0')!.first_name, 'First0');
      const origin = db.prepare("select * from portcullis_user_origin where user_id = ?").get(maxDjangoId + 1) as { django_id: number; source: string };
      assert.equal(origin.django_id, 1);
      assert.match(origin.source, /^django-[0-9a-f]{16}\/auth_user$/);
      assert.equal(byName.get('user5')!.email, null, "user5's email is portcullis user #3's username");
      assert.equal(byName.get('ivan')!.email, null);
      assert.equal(byName.get('ken')!.email, null);
      assert.equal(byName.get('judy@corp.example')!.id, theirs.get('judy@corp.example'));
      assert.equal(byName.get('Alice')!.email, 'alice@django.example');
      for (const name of ['alice', 'carol@portcullis.example', 'dora@example.org']) assert.equal(byName.get(name), undefined, `${name} is not imported`);
      // The remapped user's groups went to its new id, not to the portcullis user that has its Django id.
      const groups = (db.prepare('select g.name from auth_user_groups ug join auth_group g on g.id = ug.group_id where ug.user_id = ? order by 1').all(maxDjangoId + 1) as Array<{ name: string }>).map((r) => r.name);
      assert.deepEqual(groups, ['editors', 'readers']);
    } finally {
      db.close();
    }
  });

  test('a re-import updates only the users it imported, even under a mapped id, and needs no --remap-ids again', () => {
    const source = new SQLite(djangoDb);
    source.prepare("update auth_user set first_name = 'Renamed' where username in ('user0', 'user7')").run();
    source.close();
    const out = importDjango([]);
    assert.equal(out.status, 0, out.stderr);
    const total = MADE + 1 + THEIRS.length;
    assert.match(out.stdout, new RegExp(`^0 users imported, 2 updated, ${total - 3 - 2} unchanged, 3 skipped`, 'm'));
    assert.doesNotMatch(out.stdout, /: id \d+ belongs to/, 'its own users are no conflict');
    assert.equal(stateOf(ourIds), ourState, 'nothing of the existing accounts changed');
    const db = new SQLite(portcullisDb, { readonly: true });
    try {
      const renamed = db.prepare("select id from auth_user where first_name = 'Renamed' order by id").all() as Array<{ id: number }>;
      assert.deepEqual(renamed.map((r) => r.id), [8, Math.max(...theirs.values()) + 1]);
    } finally {
      db.close();
    }
    assert.match(importDjango([]).stdout, new RegExp(`^0 users imported, 0 updated, ${total - 3} unchanged, 3 skipped`, 'm'));
  });

  test('imported users log in over HTTP by every identifier they kept; an identifier they lost still reaches its owner alone', async () => {
    const server = await startServer({ databaseUrl: `sqlite:${portcullisDb}`, ...CHEAP });
    try {
      const login = async (username: string, password: string) => {
        const res = await new Client(server.url).post('/api/auth/login', { username, password });
        const body = (await res.json()) as { user?: { id: number; username: string } };
        return { status: res.status, username: body.user?.username, id: body.user?.id };
      };
      const user6 = 'old password 6 ünïcode';
      assert.deepEqual(await login('user6', user6), { status: 200, username: 'user6', id: 7 });
      assert.deepEqual(await login('USER6', user6), { status: 200, username: 'user6', id: 7 }, 'the username in another case');
      assert.deepEqual(await login('User6@Example.COM', user6), { status: 200, username: 'user6', id: 7 }, 'the email in another case');
      const remapped = Math.max(...theirs.values()) + 1;
      assert.deepEqual(await login('user0', 'old password 0 ünïcode'), { status: 200, username: 'user0', id: remapped }, 'a remapped user under its new id');
      assert.deepEqual(await login('judy@corp.example', 'judy passphrase'), { status: 200, username: 'judy@corp.example', id: theirs.get('judy@corp.example') });
      assert.deepEqual(await login('alice@django.example', 'alice passphrase'), { status: 200, username: 'Alice', id: theirs.get('Alice') });
      assert.deepEqual(await login('ivan', 'ivan passphrase'), { status: 200, username: 'ivan', id: theirs.get('ivan') });
      // What the Django users could not have still names the portcullis account alone.
      assert.equal((await login('Heidi@Mail.example', 'ivan passphrase')).status, 401);
      assert.deepEqual(await login('Heidi@Mail.example', 'heidi passphrase 1'), { status: 200, username: 'heidi@mail.example', id: 5 });
      assert.equal((await login('alice', 'other alice passphrase')).status, 401);
      assert.deepEqual(await login('dora@example.org', 'frank passphrase 1'), { status: 200, username: 'frank', id: 4 });
      assert.deepEqual(await login('root', 'the root passphrase'), { status: 200, username: 'root', id: 1 });
    } finally {
      await server.close().catch(() => {});
    }
  });

  test('the shared-session mode does not start with remapped users, and --remap-ids is refused in that mode', async () => {
    await assert.rejects(open({ sessionStore: 'django', djangoSecretKey: SECRET, djangoDatabaseUrl: `sqlite:${djangoDb}` }), /5 users were imported under ids other than their Django ids/);
    const res = importDjango(['--remap-ids', '--dry-run'], { PORTCULLIS_SESSION_STORE: 'django', PORTCULLIS_DJANGO_SECRET_KEY: SECRET });
    assert.equal(res.status, 1);
    assert.match(res.stderr, /--remap-ids cannot be used with PORTCULLIS_SESSION_STORE=django/);
  });
});
