import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, PASSWORD, startServer, type TestServer } from './helpers.js';
import { RequestSession } from '../src/sessions/request-session.js';

/** PORTCULLIS_SESSION_STORE=cookie: signed, expiring, no server state, with its documented limits. */
let server: TestServer;
before(async () => {
  server = await startServer({ sessionStore: 'cookie' });
  await server.portcullis.users.createUser({ username: 'baker', password: PASSWORD });
});
after(() => server.close());

describe('signed-cookie sessions', () => {
  test('login works with no server state; the cookie is signed', async () => {
    const client = new Client(server.url);
    assert.equal((await client.post('/api/auth/login', { username: 'baker', password: PASSWORD })).status, 200);
    const value = client.cookies.get('sessionid')!;
    assert.match(value, /^c1\./);
    assert.equal((await client.get('/api/auth/me')).status, 200);
    const forged = new Client(server.url);
    const [, body, mac] = value.split('.');
    const payload = JSON.parse(Buffer.from(body!, 'base64url').toString());
    payload.userId = payload.userId + 1;
    forged.cookies.set('sessionid', `c1.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${mac}`);
    assert.equal((await forged.get('/api/auth/me')).status, 401, 'a tampered cookie is refused');
  });

  test('it expires by itself', async () => {
    const p = server.portcullis;
    const user = (await p.users.getByUsername('baker'))!;
    const { key } = await p.sessions.create({ userId: user.id, backend: 'model', authHash: p.authHash(user.password), persistent: true }, Date.now() - p.sessions.ageMs - 1);
    const client = new Client(server.url);
    client.cookies.set('sessionid', key);
    assert.equal((await client.get('/api/auth/me')).status, 401);
  });

  test('what it cannot do: logout cannot revoke a copied cookie before it expires', async () => {
    const client = new Client(server.url);
    await client.post('/api/auth/login', { username: 'baker', password: PASSWORD });
    const copy = client.cookies.get('sessionid')!;
    await client.post('/api/auth/logout');
    const thief = new Client(server.url);
    thief.cookies.set('sessionid', copy);
    assert.equal((await thief.get('/api/auth/me')).status, 200, 'documented limit: no server state to delete');
  });

  test('a password change still ends every other cookie session', async () => {
    const a = new Client(server.url);
    const b = new Client(server.url);
    await a.post('/api/auth/login', { username: 'baker', password: PASSWORD });
    await b.post('/api/auth/login', { username: 'baker', password: PASSWORD });
    assert.equal((await a.post('/api/auth/password', { old_password: PASSWORD, new_password: 'fresh bread daily' })).status, 200);
    assert.equal((await a.get('/api/auth/me')).status, 200);
    assert.equal((await b.get('/api/auth/me')).status, 401);
  });

  test('application data rides in the cookie; every change is a new cookie', async () => {
    const s = await RequestSession.load(server.portcullis.sessions, undefined);
    s.set('cart', ['rye']);
    const c1 = await s.commit();
    const k1 = c1!.action === 'set' ? c1!.key : '';
    const again = await RequestSession.load(server.portcullis.sessions, k1);
    assert.deepEqual(again.get('cart'), ['rye']);
    again.set('cart', ['rye', 'spelt']);
    const c2 = await again.commit();
    assert.ok(c2!.action === 'set' && c2!.key !== k1);
    assert.throws(() => again.set('big', 'x'.repeat(4000)), /over the limit/);
  });
});
