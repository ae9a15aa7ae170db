import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from './helpers.js';

let server: TestServer;
before(async () => {
  server = await startServer();
});
after(() => server.close());

test('hasPerm: own and group permissions; superusers have all; inactive users none', async () => {
  const { users, permissions } = server.portcullis;
  const editor = await users.createUser({ username: 'editor', password: null });
  const writer = await users.createUser({ username: 'writer', password: null });
  const boss = await users.createSuperuser({ username: 'boss', password: null });
  await permissions.grantToUser(editor.id, 'blog.change_post');
  await permissions.grantToGroup('writers', 'blog.add_post');
  await permissions.addUserToGroup(writer.id, 'writers');
  assert.equal(await permissions.hasPerm(editor, 'blog.change_post'), true);
  assert.equal(await permissions.hasPerm(editor, 'blog.add_post'), false);
  assert.equal(await permissions.hasPerm(writer, 'blog.add_post'), true);
  assert.equal(await permissions.hasModulePerms(writer, 'blog'), true);
  assert.equal(await permissions.hasModulePerms(writer, 'shop'), false);
  assert.equal(await permissions.hasPerm(boss, 'anything.at_all'), true);
  assert.deepEqual(await permissions.userGroups(writer.id), ['writers']);
  const inactiveBoss = await users.update(boss.id, { is_active: false });
  assert.equal(await permissions.hasPerm(inactiveBoss, 'anything.at_all'), false);
  const inactiveEditor = await users.update(editor.id, { is_active: false });
  assert.equal(await permissions.hasPerm(inactiveEditor, 'blog.change_post'), false);
});

test('createUser without a password stores an unusable one', async () => {
  const user = await server.portcullis.users.createUser({ username: 'nopass', password: null });
  assert.match(user.password, /^!.{40}$/);
  assert.equal(await server.portcullis.authenticate({ username: 'nopass', password: '' }), null);
});

test('custom backends: skipped when they do not accept, PermissionDenied stops the walk', async () => {
  const { PermissionDenied } = await import('../src/errors.js');
  const p = server.portcullis;
  const calls: string[] = [];
  const token = {
    name: 'token',
    accepts: (c: Record<string, unknown>) => typeof c.token === 'string',
    authenticate: async () => (calls.push('token'), null),
    getUser: async () => null,
  };
  const blocker = {
    name: 'blocker',
    authenticate: async (_ctx: unknown, c: Record<string, unknown>) => {
      calls.push('blocker');
      if (c.username === 'blocked') throw new PermissionDenied();
      return null;
    },
    getUser: async () => null,
  };
  const saved = [...p.backends];
  p.backends.splice(0, p.backends.length, token, blocker, ...saved);
  try {
    await p.users.createUser({ username: 'blocked', password: 'a fine passphrase' });
    assert.equal(await p.authenticate({ username: 'blocked', password: 'a fine passphrase' }), null);
    assert.deepEqual(calls, ['blocker'], 'token backend skipped; model backend never asked');
    calls.length = 0;
    await p.users.createUser({ username: 'walker', password: 'a fine passphrase' });
    const found = await p.authenticate({ username: 'walker', password: 'a fine passphrase' });
    assert.equal(found?.backend.name, 'model');
    assert.deepEqual(calls, ['blocker']);
  } finally {
    p.backends.splice(0, p.backends.length, ...saved);
  }
});

test('events: logged in, login failed with credentials redacted', async () => {
  const p = server.portcullis;
  const failed: Array<Record<string, unknown>> = [];
  const loggedIn: string[] = [];
  p.events.on('user_login_failed', (e) => failed.push(e.credentials));
  p.events.on('user_logged_in', (e) => loggedIn.push(e.user.username));
  await p.users.createUser({ username: 'evented', password: 'a fine passphrase' });
  await p.authenticate({ username: 'evented', password: 'wrong one' });
  assert.deepEqual(failed.at(-1), { username: 'evented', password: '********************' });
  const found = await p.authenticate({ username: 'evented', password: 'a fine passphrase' });
  await p.login(found!.user, found!.backend);
  assert.deepEqual(loggedIn, ['evented']);
});
