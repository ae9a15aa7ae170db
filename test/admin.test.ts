import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, json, PASSWORD, startServer, type ErrorBody, type TestServer } from './helpers.js';

let server: TestServer;

type AdminUser = Record<string, unknown> & { id: number; username: string; groups: string[]; permissions: string[] };

async function makeUser(username: string, extra: Record<string, unknown> = {}, perms: string[] = []) {
  const user = await server.portcullis.users.createUser({ username, password: PASSWORD, ...extra });
  for (const p of perms) await server.portcullis.permissions.grantToUser(user.id, p);
  return user;
}

async function logIn(username: string, headers: Record<string, string> = {}) {
  const client = new Client(server.url, headers);
  const res = await client.post('/api/auth/login', { username, password: PASSWORD });
  assert.equal(res.status, 200, await res.clone().text());
  return client;
}

let superuser: Client;
let viewer: Client; // staff with view_user
let changer: Client; // staff with change_user
let bare: Client; // staff without permissions
let plain: Client; // not staff, even with every permission

before(async () => {
  server = await startServer();
  await server.portcullis.users.createSuperuser({ username: 'root', password: PASSWORD, email: 'root@example.com' });
  await makeUser('viewer', { is_staff: true }, ['auth.view_user']);
  await makeUser('changer', { is_staff: true }, ['auth.change_user']);
  await makeUser('bare', { is_staff: true });
  await makeUser('plain', {}, ['auth.view_user', 'auth.change_user', 'auth.add_user', 'auth.delete_user']);
  [superuser, viewer, changer, bare, plain] = await Promise.all([logIn('root'), logIn('viewer'), logIn('changer'), logIn('bare'), logIn('plain')]);
});
after(() => server.close());

async function status(client: Client, method: string, path: string, body?: unknown) {
  const res = await client.request(method, path, body);
  return res.status;
}

describe('permission matrix', () => {
  test('anonymous is 401 not_authenticated on every route', async () => {
    const anon = new Client(server.url);
    for (const [method, path, body] of [
      ['GET', '/api/admin/users'],
      ['POST', '/api/admin/users', { username: 'x' }],
      ['GET', '/api/admin/users/1'],
      ['PATCH', '/api/admin/users/1', {}],
      ['DELETE', '/api/admin/users/1'],
      ['POST', '/api/admin/users/1/revoke-sessions'],
    ] as const) {
      const res = await anon.request(method, path, body);
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal((await json<ErrorBody>(res)).error.code, 'not_authenticated');
    }
  });

  test('a non-staff user is 403 permission_denied even with every model permission', async () => {
    const res = await plain.get('/api/admin/users');
    assert.equal(res.status, 403);
    assert.equal((await json<ErrorBody>(res)).error.code, 'permission_denied');
    assert.equal(await status(plain, 'PATCH', '/api/admin/users/1', { first_name: 'x' }), 403);
  });

  test('staff without permissions: 403 on every guarded action', async () => {
    const target = await makeUser('target-bare');
    for (const [method, path, body] of [
      ['GET', '/api/admin/users'],
      ['POST', '/api/admin/users', { username: 'made-by-bare' }],
      ['GET', `/api/admin/users/${target.id}`],
      ['PATCH', `/api/admin/users/${target.id}`, { first_name: 'x' }],
      ['DELETE', `/api/admin/users/${target.id}`],
      ['POST', `/api/admin/users/${target.id}/revoke-sessions`],
    ] as const) {
      assert.equal(await status(bare, method, path, body), 403, `${method} ${path}`);
    }
    assert.ok(await server.portcullis.users.getById(target.id), 'nothing was deleted');
  });

  test('view_user may read but not change, add or delete', async () => {
    const target = await makeUser('target-view');
    assert.equal(await status(viewer, 'GET', '/api/admin/users'), 200);
    assert.equal(await status(viewer, 'GET', `/api/admin/users/${target.id}`), 200);
    assert.equal(await status(viewer, 'PATCH', `/api/admin/users/${target.id}`, { first_name: 'x' }), 403);
    assert.equal(await status(viewer, 'POST', '/api/admin/users', { username: 'made-by-viewer' }), 403);
    assert.equal(await status(viewer, 'DELETE', `/api/admin/users/${target.id}`), 403);
    assert.equal(await status(viewer, 'POST', `/api/admin/users/${target.id}/revoke-sessions`), 403);
  });

  test('change_user may view and change (as in Django) but not add or delete', async () => {
    const target = await makeUser('target-change');
    assert.equal(await status(changer, 'GET', '/api/admin/users'), 200);
    assert.equal(await status(changer, 'PATCH', `/api/admin/users/${target.id}`, { first_name: 'Changed' }), 200);
    assert.equal(await status(changer, 'POST', `/api/admin/users/${target.id}/revoke-sessions`), 200);
    assert.equal(await status(changer, 'POST', '/api/admin/users', { username: 'made-by-changer' }), 403);
    assert.equal(await status(changer, 'DELETE', `/api/admin/users/${target.id}`), 403);
  });

  test('permissions through a group count; add_user and delete_user allow their actions', async () => {
    await server.portcullis.permissions.grantToGroup('user-managers', 'auth.add_user');
    await server.portcullis.permissions.grantToGroup('user-managers', 'auth.delete_user');
    const manager = await makeUser('manager', { is_staff: true });
    await server.portcullis.permissions.addUserToGroup(manager.id, 'user-managers');
    const client = await logIn('manager');
    const created = await client.post('/api/admin/users', { username: 'made-by-manager', password: PASSWORD });
    assert.equal(created.status, 201, await created.clone().text());
    const { user } = await json<{ user: AdminUser }>(created);
    assert.equal(await status(client, 'DELETE', `/api/admin/users/${user.id}`), 204);
    // Flags and groups live on Django's change form: setting them at creation needs change_user too.
    assert.equal(await status(client, 'POST', '/api/admin/users', { username: 'staff-by-manager', is_staff: true }), 403);
  });

  test('only a superuser may grant is_superuser or change a superuser', async () => {
    const target = await makeUser('target-super');
    const root = (await server.portcullis.users.getByUsername('root'))!;
    assert.equal(await status(changer, 'PATCH', `/api/admin/users/${target.id}`, { is_superuser: true }), 403);
    assert.equal(await status(changer, 'PATCH', `/api/admin/users/${root.id}`, { first_name: 'Nope' }), 403);
    assert.equal(await status(changer, 'POST', `/api/admin/users/${root.id}/revoke-sessions`), 403);
    assert.equal(await status(superuser, 'PATCH', `/api/admin/users/${target.id}`, { is_superuser: true }), 200);
    assert.equal((await server.portcullis.users.getById(target.id))!.is_superuser, true);
    assert.equal(await status(changer, 'PATCH', `/api/admin/users/${target.id}`, { is_superuser: false }), 403);
  });
});

describe('list, search and pagination', () => {
  test('pages through users in id order with count, page and page_size', async () => {
    for (let i = 0; i < 7; i++) await makeUser(`pager${i}`, { email: `pager${i}@example.org` });
    const res = await superuser.get('/api/admin/users?search=pager&page=2&page_size=3');
    assert.equal(res.status, 200);
    const body = await json<{ users: AdminUser[]; count: number; page: number; page_size: number }>(res);
    assert.equal(body.count, 7);
    assert.equal(body.page, 2);
    assert.equal(body.page_size, 3);
    assert.deepEqual(body.users.map((u) => u.username), ['pager3', 'pager4', 'pager5']);
    assert.ok(body.users.every((u) => !('password' in u)));
    const last = await json<{ users: AdminUser[] }>(await superuser.get('/api/admin/users?search=pager&page=3&page_size=3'));
    assert.deepEqual(last.users.map((u) => u.username), ['pager6']);
  });

  test('search matches email and is case-insensitive; LIKE wildcards are literal', async () => {
    const byEmail = await json<{ users: AdminUser[]; count: number }>(await superuser.get('/api/admin/users?search=PAGER4%40EXAMPLE'));
    assert.deepEqual(byEmail.users.map((u) => u.username), ['pager4']);
    const wildcard = await json<{ count: number }>(await superuser.get('/api/admin/users?search=%25'));
    assert.equal(wildcard.count, 0);
  });

  test('a malformed page number is a 400 validation_error', async () => {
    const res = await superuser.get('/api/admin/users?page=two');
    assert.equal(res.status, 400);
    const body = await json<ErrorBody>(res);
    assert.equal(body.error.code, 'validation_error');
    assert.ok(body.error.fields?.page);
  });
});

describe('single user', () => {
  test('GET shows groups and direct permissions; unknown or malformed ids are 404', async () => {
    const user = await makeUser('detailed', {}, ['blog.add_post']);
    await server.portcullis.permissions.addUserToGroup(user.id, 'editors');
    const res = await viewer.get(`/api/admin/users/${user.id}`);
    assert.equal(res.status, 200);
    const body = await json<{ user: AdminUser }>(res);
    assert.equal(body.user.username, 'detailed');
    assert.deepEqual(body.user.groups, ['editors']);
    assert.deepEqual(body.user.permissions, ['blog.add_post']);
    assert.ok(!('password' in body.user));
    for (const id of ['999999', 'abc', '1e3']) {
      const missing = await viewer.get(`/api/admin/users/${id}`);
      assert.equal(missing.status, 404, id);
      assert.equal((await json<ErrorBody>(missing)).error.code, 'not_found');
    }
  });

  test('POST creates a user with flags, groups and a validated password', async () => {
    const res = await superuser.post('/api/admin/users', {
      username: 'created',
      password: PASSWORD,
      email: 'created@example.com',
      phone: '13912345678',
      is_staff: true,
      groups: ['editors'],
      permissions: ['auth.view_user'],
    });
    assert.equal(res.status, 201, await res.clone().text());
    const { user } = await json<{ user: AdminUser }>(res);
    assert.equal(user.is_staff, true);
    assert.equal(user.phone, '13912345678');
    assert.deepEqual(user.groups, ['editors']);
    assert.deepEqual(user.permissions, ['auth.view_user']);
    await logIn('created');

    const weak = await superuser.post('/api/admin/users', { username: 'weak', password: '123' });
    assert.equal(weak.status, 400);
    assert.ok((await json<ErrorBody>(weak)).error.fields?.password);
    const taken = await superuser.post('/api/admin/users', { username: 'created' });
    assert.equal(taken.status, 409);
    assert.ok((await json<ErrorBody>(taken)).error.fields?.username);
  });

  test('PATCH sets flags, groups, permissions and profile fields; validation errors name the fields', async () => {
    const user = await makeUser('patched');
    const res = await changer.request('PATCH', `/api/admin/users/${user.id}`, {
      is_staff: true,
      first_name: 'Pat',
      groups: ['writers', 'editors'],
      permissions: ['blog.change_post', 'blog.add_post'],
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = await json<{ user: AdminUser }>(res);
    assert.equal(body.user.is_staff, true);
    assert.equal(body.user.first_name, 'Pat');
    assert.deepEqual(body.user.groups, ['editors', 'writers']);
    assert.deepEqual(body.user.permissions, ['blog.add_post', 'blog.change_post']);
    assert.equal(await server.portcullis.permissions.hasPerm((await server.portcullis.users.getById(user.id))!, 'blog.add_post'), true);

    const cleared = await json<{ user: AdminUser }>(await changer.request('PATCH', `/api/admin/users/${user.id}`, { groups: [] }));
    assert.deepEqual(cleared.user.groups, []);
    assert.deepEqual(cleared.user.permissions, ['blog.add_post', 'blog.change_post'], 'untouched when not given');

    const bad = await changer.request('PATCH', `/api/admin/users/${user.id}`, { email: 'not an email', permissions: ['nodot'], password_hash: 'x' });
    assert.equal(bad.status, 400);
    const err = await json<ErrorBody>(bad);
    assert.equal(err.error.code, 'validation_error');
    assert.deepEqual(Object.keys(err.error.fields ?? {}).sort(), ['email', 'password_hash', 'permissions']);
    assert.deepEqual((await server.portcullis.permissions.userGroups(user.id)), [], 'nothing written on a failed change');

    const wrongType = await changer.request('PATCH', `/api/admin/users/${user.id}`, { is_active: 'no' });
    assert.equal(wrongType.status, 400);
    const conflict = await changer.request('PATCH', `/api/admin/users/${user.id}`, { username: 'viewer' });
    assert.equal(conflict.status, 409);
  });

  test('deactivation ends the user’s sessions and bearer tokens at once', async () => {
    const victim = await makeUser('victim');
    const browser = await logIn('victim');
    const tokenRes = await new Client(server.url).post('/api/auth/token', { username: 'victim', password: PASSWORD });
    const tokens = await json<{ access_token: string; refresh_token: string }>(tokenRes);
    assert.equal((await browser.get('/api/auth/me')).status, 200);

    const res = await changer.request('PATCH', `/api/admin/users/${victim.id}`, { is_active: false });
    assert.equal(res.status, 200);
    assert.equal((await json<{ user: AdminUser }>(res)).user.is_active, false);
    assert.equal((await browser.get('/api/auth/me')).status, 401);
    assert.equal((await new Client(server.url).get('/api/auth/me', { authorization: `Bearer ${tokens.access_token}` })).status, 401);
    const refresh = await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: tokens.refresh_token });
    assert.equal(refresh.status, 401);
    assert.deepEqual(await server.portcullis.sessions.list(victim.id), []);
  });

  test('revoke-sessions ends every session of the user and says how many', async () => {
    const user = await makeUser('revoked');
    const a = await logIn('revoked');
    const b = await logIn('revoked');
    const res = await changer.post(`/api/admin/users/${user.id}/revoke-sessions`);
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { revoked: 2 });
    assert.equal((await a.get('/api/auth/me')).status, 401);
    assert.equal((await b.get('/api/auth/me')).status, 401);
    assert.equal((await changer.post('/api/admin/users/999999/revoke-sessions')).status, 404);
  });

  test('DELETE removes the user and its sessions; a second DELETE is 404', async () => {
    const user = await makeUser('doomed', {}, ['blog.add_post']);
    const browser = await logIn('doomed');
    assert.equal(await status(superuser, 'DELETE', `/api/admin/users/${user.id}`), 204);
    assert.equal(await server.portcullis.users.getById(user.id), null);
    assert.equal((await browser.get('/api/auth/me')).status, 401);
    assert.equal(await status(superuser, 'DELETE', `/api/admin/users/${user.id}`), 404);
  });
});

describe('bearer tokens', () => {
  test('a staff access token works on the admin API without a cookie or CSRF check', async () => {
    const res = await new Client(server.url).post('/api/auth/token', { username: 'changer', password: PASSWORD });
    const { access_token } = await json<{ access_token: string }>(res);
    const api = new Client(server.url, { authorization: `Bearer ${access_token}`, origin: 'https://evil.example' });
    const list = await api.get('/api/admin/users?page_size=1');
    assert.equal(list.status, 200);
    const target = await makeUser('bearer-target');
    assert.equal(await status(api, 'PATCH', `/api/admin/users/${target.id}`, { last_name: 'Token' }), 200);
    assert.equal(await status(api, 'DELETE', `/api/admin/users/${target.id}`), 403);
    const junk = await new Client(server.url, { authorization: 'Bearer junk' }).get('/api/admin/users');
    assert.equal(junk.status, 401);
  });

  test('a cross-origin cookie request is refused with csrf_failed', async () => {
    const target = await makeUser('csrf-target');
    const res = await changer.request('PATCH', `/api/admin/users/${target.id}`, { first_name: 'x' }, { origin: 'https://evil.example' });
    assert.equal(res.status, 403);
    assert.equal((await json<ErrorBody>(res)).error.code, 'csrf_failed');
  });

  test('error messages follow Accept-Language', async () => {
    const res = await bare.get('/api/admin/users', { 'accept-language': 'zh-CN' });
    assert.equal(res.status, 403);
    assert.equal((await json<ErrorBody>(res)).error.message, '您没有执行此操作的权限。');
  });
});
