import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, json, PASSWORD, type ErrorBody } from './helpers.js';

/**
 * Each runnable example under examples/ is started as it ships and driven over HTTP: the session
 * from portcullis's own login works in the app, the guards answer in the contract's shape, and the
 * same session ends everywhere at logout. The examples import `portcullis/…` like any user would,
 * so these run against dist/ (npm test builds first).
 */
type Example = typeof import('../examples/fastify/app.js');
type Running = Awaited<ReturnType<Example['start']>>;

const examples: Record<string, () => Promise<Example>> = {
  fastify: () => import('../examples/fastify/app.js'),
  express: () => import('../examples/express/app.js'),
  'hono-or-fetch': () => import('../examples/hono-or-fetch/app.js'),
};

for (const [name, load] of Object.entries(examples)) {
  describe(`examples/${name}`, () => {
    let app: Running;
    let dir: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), `portcullis-example-${name}-`));
      const { start } = await load();
      app = await start({
        port: 0,
        apiPort: 0,
        portcullis: { databaseUrl: `sqlite:${join(dir, 'db.sqlite3')}`, dataDir: dir, cwd: dir, env: {}, secretKey: 'example-test-secret-key-0123456789abcdef' },
      });
      await app.portcullis.users.createUser({ username: 'ada', password: PASSWORD });
      const grace = await app.portcullis.users.createUser({ username: 'grace', password: PASSWORD });
      await app.portcullis.permissions.ensurePermission('reports.view_report');
      await app.portcullis.permissions.grantToUser(grace.id, 'reports.view_report');
    });
    after(async () => {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** One browser: logs in at the API, then calls the app with the same cookie jar. */
    async function loggedIn(username: string): Promise<{ api: Client; site: Client }> {
      const api = new Client(app.apiUrl, { origin: app.apiUrl });
      assert.equal((await api.post('/api/auth/login', { username, password: PASSWORD })).status, 200);
      const site = new Client(app.url);
      for (const [k, v] of api.cookies) site.cookies.set(k, v);
      return { api, site };
    }

    test('anonymous callers are strangers and guarded routes answer 401 not_authenticated', async () => {
      const site = new Client(app.url);
      assert.deepEqual(await json(await site.get('/')), { hello: 'stranger' });
      const res = await site.get('/private');
      assert.equal(res.status, 401);
      assert.equal((await json<ErrorBody>(res)).error.code, 'not_authenticated');
    });

    test('the session cookie from portcullis login makes request.user the user, without the password hash', async () => {
      const { site } = await loggedIn('ada');
      assert.deepEqual(await json(await site.get('/')), { hello: 'ada' });
      const body = await json<{ user: Record<string, unknown> }>(await site.get('/private'));
      assert.equal(body.user.username, 'ada');
      assert.equal('password' in body.user, false);
    });

    test('requirePerm: 403 permission_denied without the permission, 200 with it', async () => {
      const ada = await loggedIn('ada');
      const denied = await ada.site.get('/reports');
      assert.equal(denied.status, 403);
      assert.equal((await json<ErrorBody>(denied)).error.code, 'permission_denied');
      const grace = await loggedIn('grace');
      assert.deepEqual(await json(await grace.site.get('/reports')), { reports: ['q1', 'q2'] });
    });

    test('Authorization: Session and Bearer work like the cookie', async () => {
      const { api } = await loggedIn('ada');
      const key = api.cookies.get('sessionid');
      assert.ok(key);
      const bySession = new Client(app.url, { authorization: `Session ${key}` });
      assert.deepEqual(await json(await bySession.get('/')), { hello: 'ada' });
      const tokens = await json<{ access_token: string }>(await new Client(app.apiUrl).post('/api/auth/token', { username: 'ada', password: PASSWORD }));
      const byToken = new Client(app.url, { authorization: `Bearer ${tokens.access_token}` });
      assert.equal((await byToken.post('/notes', {})).status, 201);
    });

    test('an unsafe request riding on the cookie from a foreign origin is refused with 403 csrf_failed', async () => {
      const { site } = await loggedIn('ada');
      const forged = await site.post('/notes', {}, { origin: 'https://evil.example' });
      assert.equal(forged.status, 403);
      assert.equal((await json<ErrorBody>(forged)).error.code, 'csrf_failed');
      const own = await site.post('/notes', {}, { origin: app.url });
      assert.equal(own.status, 201);
      assert.deepEqual(await json(own), { saved: true, by: 'ada' });
    });

    test('after logout at the API the same cookie is anonymous in the app', async () => {
      const { api, site } = await loggedIn('ada');
      assert.equal((await api.post('/api/auth/logout')).status, 204);
      assert.deepEqual(await json(await site.get('/')), { hello: 'stranger' });
      assert.equal((await site.get('/private')).status, 401);
    });

    test('a deactivated user is nobody in the app at once', async () => {
      const { site } = await loggedIn('grace');
      const grace = await app.portcullis.users.getByLogin('grace');
      assert.ok(grace);
      await app.portcullis.deactivate(grace);
      assert.equal((await site.get('/private')).status, 401);
    });
  });
}
