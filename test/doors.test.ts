import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { Client, json, PASSWORD, startServer, type ErrorBody, type TestServer } from './helpers.js';
import { Browser, errorsOf, inputOf } from './browser.js';
import { portcullis as expressPortcullis, errorHandler } from '../src/adapters/express.js';
import fastifyPortcullis from '../src/adapters/fastify.js';
import { portcullisFetch } from '../src/adapters/fetch.js';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import type { RequestSession } from '../src/sessions/request-session.js';
import type { PublicUser } from '../src/users/types.js';
import type { LoginOutcome } from '../src/adapters/core.js';
import { clientOf } from '../src/throttle/throttle.js';
import { resolveConfig } from '../src/config.js';
import { confirmPasswordReset } from '../src/flows/reset.js';
import { encodeUid } from '../src/auth/password-reset.js';
import type { User } from '../src/users/types.js';
import { pendingLogin, resumeLogin } from '../src/flows/login.js';

/**
 * The rules of issue 13 through every door they apply to: the JSON API, the built-in pages and the
 * three adapters' `login`. Each client is an address of its own (X-Forwarded-For from the loopback
 * proxy), so tests do not share counters unless they mean to.
 */
const PER_CLIENT = 3;
const CEILING = 8;
const REGISTER_PER_IP = 4;

let server: TestServer;
let expressServer: Server;
let expressUrl: string;
let fastifyApp: FastifyInstance;
let fastifyUrl: string;
let fetchLogin: (request: Request) => Promise<Response>;
let seq = 0;

function freshIp(): string {
  seq++;
  return `203.0.${(seq >> 8) & 255}.${seq & 255}`;
}
const api = (ip: string) => new Client(server.url, { 'x-forwarded-for': ip });
/** The full-width (compatibility) spelling of ASCII letters, digits and punctuation. */
const fullwidth = (s: string) => s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
const status = async (res: Response | Promise<Response>) => (await res).status;

async function user(username: string, extra: Record<string, unknown> = {}): Promise<User> {
  return server.portcullis.users.createUser({ username, password: PASSWORD, ...extra });
}

/** The status an app would answer a login outcome with (each reason is the contract's code). */
const STATUS: Record<string, number> = { step_required: 202, throttled: 429, csrf_failed: 403, invalid_credentials: 401, missing_credentials: 400, validation_error: 400 };
const statusOf = (r: LoginOutcome) => (r.ok ? 200 : STATUS[r.reason]!);

/** One guess through each door that logs in; all answer 200, 401 or 429 (400 for a bad form). */
type Door = (ip: string, username: string, password: string) => Promise<number>;
const doors: Record<string, Door> = {
  api: (ip, username, password) => status(api(ip).post('/api/auth/login', { username, password })),
  token: (ip, username, password) => status(api(ip).post('/api/auth/token', { username, password })),
  page: async (ip, username, password) => {
    const { res } = await new Browser(server, { 'x-forwarded-for': ip }).submit('/login', '/login', { username, password });
    return res.status === 303 ? 200 : res.status;
  },
  express: (ip, username, password) =>
    status(fetch(expressUrl + '/app-login', { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify({ username, password }) })),
  fastify: (ip, username, password) =>
    status(fetch(fastifyUrl + '/app-login', { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify({ username, password }) })),
  fetch: (ip, username, password) =>
    status(fetchLogin(new Request('http://app.test/app-login', { method: 'POST', headers: { 'content-type': 'application/json', 'x-client-ip': ip }, body: JSON.stringify({ username, password }) }))),
};

before(async () => {
  server = await startServer({
    trustedProxies: ['127.0.0.1'],
    throttle: { perClient: PER_CLIENT, perIp: 1000, perAccount: 1000, hardCeiling: CEILING, registerPerIp: REGISTER_PER_IP },
    // A trivial extra login step: users named paused-* must "confirm" before any session exists.
    loginSteps: [{ name: 'confirm', check: ({ user }) => (user.username.startsWith('paused-') ? { detail: { hint: 'test' } } : null) }],
  });
  const p = server.portcullis;

  const ex = express();
  ex.set('trust proxy', 'loopback');
  ex.use(express.json());
  ex.use(expressPortcullis(p));
  ex.post('/app-login', (req, res, next) => {
    req.portcullis!.login({ username: req.body.username, password: req.body.password }).then((r) => void res.status(statusOf(r)).json(r), next);
  });
  ex.post('/app-write', (req, res) => void res.status(req.user ? 200 : 401).json({ user: req.user?.username ?? null }));
  ex.get('/app-visits', (req, res) => void res.json({ visits: countVisit(req.session) }));
  ex.use(errorHandler());
  expressServer = await new Promise<Server>((resolve) => {
    const s = ex.listen(0, '127.0.0.1', () => resolve(s));
  });
  expressUrl = `http://127.0.0.1:${(expressServer.address() as AddressInfo).port}`;

  fastifyApp = Fastify({ trustProxy: '127.0.0.1' });
  await fastifyApp.register(fastifyPortcullis, { portcullis: p });
  fastifyApp.post<{ Body: { username: string; password: string } }>('/app-login', async (request, reply) => {
    const r = await request.portcullis.login({ username: request.body.username, password: request.body.password });
    return reply.code(statusOf(r)).send(r);
  });
  fastifyApp.post('/app-write', async (request, reply) => reply.code(request.user ? 200 : 401).send({ user: request.user?.username ?? null }));
  fastifyApp.get('/app-visits', async (request) => ({ visits: countVisit(request.session) }));
  await fastifyApp.listen({ port: 0, host: '127.0.0.1' });
  fastifyUrl = `http://127.0.0.1:${(fastifyApp.server.address() as AddressInfo).port}`;

  const auth = portcullisFetch(p, { clientIp: (r) => r.headers.get('x-client-ip') ?? undefined });
  const visits = auth.handler(async (_request, _user, session) => Response.json({ visits: countVisit(session) }));
  fetchLogin = async (request) => {
    if (new URL(request.url).pathname === '/app-visits') return visits(request);
    try {
      if (new URL(request.url).pathname === '/app-write') {
        const u = await auth.user(request);
        return Response.json({ user: u?.username ?? null }, { status: u ? 200 : 401 });
      }
      const body = (await request.clone().json()) as { username: string; password: string };
      const r = await auth.context(request).login(body);
      return auth.finish(request, Response.json(r, { status: statusOf(r) }));
    } catch (err) {
      return auth.errorResponse(err, request) ?? new Response('error', { status: 500 });
    }
  };
});

/** What an application does with its session on a read: counts the visit (Django's request.session). */
function countVisit(session: { get<T>(key: string): T | undefined; set(key: string, value: unknown): void }): number {
  const n = (session.get<number>('visits') ?? 0) + 1;
  session.set('visits', n);
  return n;
}

after(async () => {
  await new Promise((resolve) => expressServer.close(resolve));
  await fastifyApp.close();
  await server.close();
});

describe('every door that checks a secret is throttled, on the same counters', () => {
  for (const [name, door] of Object.entries(doors)) {
    test(`${name}: wrong passwords, then the right one is refused 429 until the client waits`, async () => {
      await user(`door-${name}`);
      const ip = freshIp();
      for (let i = 0; i < PER_CLIENT; i++) assert.equal(await door(ip, `door-${name}`, 'wrong password'), 401, `guess ${i + 1}`);
      assert.equal(await door(ip, `door-${name}`, PASSWORD), 429, 'the right password waits too');
      assert.equal(await door(freshIp(), `door-${name}`, PASSWORD), 200, 'the owner elsewhere gets in');
    });
  }

  test('guesses through different doors add up: a door is not a way around the count', async () => {
    await user('crossdoor');
    const ip = freshIp();
    assert.equal(await doors.api!(ip, 'crossdoor', 'wrong'), 401);
    assert.equal(await doors.express!(ip, 'crossdoor', 'wrong'), 401);
    assert.equal(await doors.fetch!(ip, 'crossdoor', 'wrong'), 401);
    assert.equal(await doors.fastify!(ip, 'crossdoor', 'wrong'), 429);
    assert.equal(await doors.page!(ip, 'crossdoor', PASSWORD), 429);
  });

  test('the page’s password change counts wrong old passwords like the API (429 past the limit)', async () => {
    await user('pagechange');
    const ip = freshIp();
    const browser = new Browser(server, { 'x-forwarded-for': ip });
    assert.equal((await browser.submit('/login', '/login', { username: 'pagechange', password: PASSWORD })).res.status, 303);
    const change = (old: string) => browser.submit('/account', '/account/password', { old_password: old, new_password1: 'a brand new passphrase', new_password2: 'a brand new passphrase' });
    for (let i = 0; i < PER_CLIENT; i++) assert.equal((await change('wrong')).res.status, 400);
    assert.equal((await change(PASSWORD)).res.status, 429);
    assert.ok(await server.portcullis.users.checkPassword((await server.portcullis.users.getByUsername('pagechange'))!, PASSWORD), 'unchanged');
  });
});

describe('one account, one counter', () => {
  test('every spelling of an account’s identifiers shares its counter, through every door', async () => {
    await user('Zoë.Spell', { email: 'Zoë.Spell@Example.com', phone: '13911112222' });
    const spellings = ['zoë.spell', ' ZOË.SPELL ', fullwidth('Zoë.Spell'), 'zoe\u0308.spell', 'ZOË.spell@EXAMPLE.COM', ' zoë.spell@example.com', '13911112222', fullwidth('13911112222')];
    for (const typed of spellings) assert.equal((await server.portcullis.users.getByLogin(typed))?.username, 'Zoë.Spell', `${JSON.stringify(typed)} reaches the account`);
    const ip = freshIp();
    const names = Object.keys(doors);
    for (let i = 0; i < PER_CLIENT; i++) assert.equal(await doors[names[i]!]!(ip, spellings[i * 2]!, 'wrong'), 401);
    for (const typed of spellings) assert.equal(await doors.api!(ip, typed, PASSWORD), 429, `${JSON.stringify(typed)} is the same account`);
  });

  test('an identifier that names no account: its spellings share one counter too, and answer like a real account', async () => {
    const ip = freshIp();
    const answers: number[] = [];
    for (const typed of ['ghost@example.com', 'GHOST@example.com', ' ghost@EXAMPLE.com', fullwidth('ghost') + '@example.com']) answers.push(await doors.api!(ip, typed, 'wrong'));
    assert.deepEqual(answers, [401, 401, 401, 429]);
  });

  test('the hard ceiling counts the account across spellings and clients; a reset lifts it', async () => {
    const u = await user('Ceiling.Kim', { email: 'kim@example.com' });
    const spellings = ['ceiling.kim', 'CEILING.KIM', 'kim@example.com', 'KIM@EXAMPLE.COM'];
    for (let i = 0; i < CEILING; i++) assert.equal(await doors.api!(freshIp(), spellings[i % spellings.length]!, 'wrong'), 401);
    assert.equal(await doors.api!(freshIp(), 'Ceiling.Kim', PASSWORD), 429, 'locked for everyone');
    const token = server.portcullis.passwordResetTokens.makeToken(u);
    await confirmPasswordReset(server.portcullis, freshIp(), encodeUid(u.id), token, 'a fresh start for the ceiling 7');
    assert.equal(await doors.api!(freshIp(), 'kim@example.com', 'a fresh start for the ceiling 7'), 200);
  });
});

describe('internal counters cannot be reached from the login', () => {
  test('typing internal-looking names at the login blocks neither password change nor re-authentication', async () => {
    const u = await user('namespaced');
    for (const typed of [`user:${u.id}`, `reauth:${u.id}`, `account:${u.id}`]) {
      for (let i = 0; i < CEILING + 1; i++) await doors.api!(freshIp(), typed, 'wrong');
    }
    const ip = freshIp();
    const owner = api(ip);
    assert.equal((await owner.post('/api/auth/login', { username: 'namespaced', password: PASSWORD })).status, 200);
    const revoke = await owner.post('/api/auth/sessions/revoke-others', { password: PASSWORD });
    assert.equal(revoke.status, 200, await revoke.clone().text());
    const change = await owner.post('/api/auth/password', { old_password: PASSWORD, new_password: 'namespaced new passphrase' });
    assert.equal(change.status, 200, await change.clone().text());
  });

  test('failed logins do not use up re-authentication, nor the reverse; a reset clears both', async () => {
    const u = await user('splitcounts');
    const ip = freshIp();
    const owner = api(ip);
    assert.equal((await owner.post('/api/auth/login', { username: 'splitcounts', password: PASSWORD })).status, 200);
    for (let i = 0; i < PER_CLIENT; i++) assert.equal((await owner.post('/api/auth/password', { old_password: 'wrong', new_password: 'whatever new passphrase' })).status, 400);
    assert.equal((await owner.post('/api/auth/password', { old_password: PASSWORD, new_password: 'whatever new passphrase' })).status, 429);
    assert.equal(await doors.api!(ip, 'splitcounts', PASSWORD), 200, 'the login counter is another one');
    const token = server.portcullis.passwordResetTokens.makeToken((await server.portcullis.users.getById(u.id))!);
    await confirmPasswordReset(server.portcullis, ip, encodeUid(u.id), token, 'split after the reset 42');
    const again = api(ip);
    assert.equal((await again.post('/api/auth/login', { username: 'splitcounts', password: 'split after the reset 42' })).status, 200);
    assert.equal((await again.post('/api/auth/password', { old_password: 'split after the reset 42', new_password: 'split final passphrase' })).status, 200);
  });
});

describe('IPv6 clients are counted by /64', () => {
  test('clientOf: /64 networks, IPv4 and IPv4-mapped addresses', () => {
    assert.equal(clientOf('2001:db8:1:2::1'), '2001:db8:1:2::/64');
    assert.equal(clientOf('2001:0db8:0001:0002:ffff:eeee:dddd:cccc'), '2001:db8:1:2::/64');
    assert.equal(clientOf('2001:db8::'), '2001:db8:0:0::/64');
    assert.equal(clientOf('::1'), '0:0:0:0::/64');
    assert.equal(clientOf('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(clientOf('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(clientOf('192.0.2.7'), '192.0.2.7');
  });

  test('addresses of one /64 share a client counter over HTTP; the next /64 is another client', async () => {
    await user('six');
    const hosts = ['2001:db8:6:1::1', '2001:db8:6:1::2', '2001:db8:6:1:abcd::3'];
    for (const ip of hosts) assert.equal(await doors.api!(ip, 'six', 'wrong'), 401);
    assert.equal(await doors.api!('2001:db8:6:1:ffff:ffff:ffff:ffff', 'six', PASSWORD), 429);
    assert.equal(await doors.express!('2001:db8:6:1::9', 'six', PASSWORD), 429, 'the adapters count the same client');
    assert.equal(await doors.api!('2001:db8:6:2::1', 'six', PASSWORD), 200);
  });
});

describe('registration', () => {
  test('a taken identifier is answered 409 before any password is hashed', async () => {
    await user('taken', { email: 'taken@example.com' });
    const hashers = server.portcullis.hashers;
    const original = hashers.makePassword.bind(hashers);
    let hashed = 0;
    hashers.makePassword = (...args: Parameters<typeof original>) => ((hashed += 1), original(...args));
    try {
      for (const body of [{ username: 'taken' }, { username: 'TAKEN' }, { username: 'fresh-one', email: 'Taken@Example.com' }, { username: 'taken@example.com' }]) {
        const res = await api(freshIp()).post('/api/auth/register', { password: PASSWORD, ...body });
        assert.equal(res.status, 409, JSON.stringify(body));
        assert.equal((await json<ErrorBody>(res)).error.code, 'conflict');
      }
      assert.equal(hashed, 0, 'no hash was paid for a duplicate');
    } finally {
      hashers.makePassword = original;
    }
  });

  test('registrations are limited per client, API and page alike; another client goes on', async () => {
    const ip = freshIp();
    const answers: number[] = [];
    for (let i = 0; i < REGISTER_PER_IP - 1; i++) answers.push((await api(ip).post('/api/auth/register', { username: `reg-${seq}-${i}`, password: PASSWORD })).status);
    const page = await new Browser(server, { 'x-forwarded-for': ip }).submit('/register', '/register', { username: `reg-${seq}-page`, password1: PASSWORD, password2: PASSWORD });
    answers.push(page.res.status);
    const refused = await api(ip).post('/api/auth/register', { username: `reg-${seq}-late`, password: PASSWORD });
    answers.push(refused.status);
    assert.deepEqual(answers, [201, 201, 201, 303, 429]);
    assert.equal((await json<ErrorBody>(refused)).error.code, 'throttled');
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
    assert.equal((await new Browser(server, { 'x-forwarded-for': ip }).submit('/register', '/register', { username: `reg-${seq}-page2`, password1: PASSWORD, password2: PASSWORD })).res.status, 429);
    assert.equal(await server.portcullis.users.getByUsername(`reg-${seq}-late`), null);
    assert.equal((await api(freshIp()).post('/api/auth/register', { username: `reg-${seq}-other`, password: PASSWORD })).status, 201);
  });
});

describe('one identifier names one account', () => {
  test('registration: a username equal to another account’s email or phone, and the reverse, is 409', async () => {
    await user('holder', { email: 'holder@example.com', phone: '13700000001' });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ username: 'holder@example.com' }, 'username'],
      [{ username: 'HOLDER@EXAMPLE.COM' }, 'username'],
      [{ username: '13700000001' }, 'username'],
      [{ username: fullwidth('13700000001') }, 'username'],
      [{ username: 'someone-new', email: 'HOLDER@example.com' }, 'email'],
      [{ username: 'someone-new', phone: '13700000001' }, 'phone'],
      [{ username: 'Holder' }, 'username'],
    ];
    for (const [body, field] of cases) {
      const res = await api(freshIp()).post('/api/auth/register', { password: PASSWORD, ...body });
      assert.equal(res.status, 409, JSON.stringify(body));
      assert.deepEqual(Object.keys((await json<ErrorBody>(res)).error.fields ?? {}), [field], JSON.stringify(body));
    }
    await user('squatter@example.com');
    const reverse = await api(freshIp()).post('/api/auth/register', { username: 'real-owner', email: 'Squatter@Example.com', password: PASSWORD });
    assert.equal(reverse.status, 409);
    assert.deepEqual(Object.keys((await json<ErrorBody>(reverse)).error.fields ?? {}), ['email']);
  });

  test('Unicode letter case is one account on every database (not only ASCII)', async () => {
    await user('umlaut-a', { email: 'Ärger@example.com' });
    const res = await api(freshIp()).post('/api/auth/register', { username: 'umlaut-b', email: 'ärger@example.com', password: PASSWORD });
    assert.equal(res.status, 409);
    assert.equal((await server.portcullis.users.getByLogin('ÄRGER@EXAMPLE.COM'))?.username, 'umlaut-a');
    assert.equal(await doors.api!(freshIp(), 'ärger@example.com', PASSWORD), 200);
  });

  test('profile page and admin API: changing to another account’s identifier is 409; the old one is freed', async () => {
    await user('first-owner', { email: 'first@example.com' });
    const mover = await user('mover', { email: 'mover@example.com' });
    const browser = new Browser(server, { 'x-forwarded-for': freshIp() });
    assert.equal((await browser.submit('/login', '/login', { username: 'mover', password: PASSWORD })).res.status, 303);
    const clash = await browser.submit('/account', '/account/profile', { first_name: '', last_name: '', email: 'FIRST-OWNER', phone: '' });
    assert.equal(clash.res.status, 400, 'not an email address at all');
    const taken = await browser.submit('/account', '/account/profile', { first_name: '', last_name: '', email: 'First@Example.com', phone: '' });
    assert.equal(taken.res.status, 409);
    assert.match(errorsOf(taken.html, 'email'), /already exists/);

    const admin = api(freshIp());
    await server.portcullis.users.createSuperuser({ username: 'door-admin', password: PASSWORD });
    assert.equal((await admin.post('/api/auth/login', { username: 'door-admin', password: PASSWORD })).status, 200);
    const patch = (body: Record<string, unknown>) => admin.request('PATCH', `/api/admin/users/${mover.id}`, body);
    const viaAdmin = await patch({ username: 'first@example.com' });
    assert.equal(viaAdmin.status, 409, await viaAdmin.clone().text());
    assert.equal((await patch({ email: 'moved@example.com' })).status, 200);
    assert.equal((await server.portcullis.users.getByLogin('mover@example.com')), null, 'the old address names nobody now');
    assert.equal((await server.portcullis.users.getByLogin('MOVED@example.com'))?.id, mover.id);
    assert.equal((await patch({ email: 'MOVED@EXAMPLE.COM' })).status, 200, 'an account may respell its own identifier');
  });
});

describe('re-authentication on the pages', () => {
  let stale: TestServer;
  before(async () => {
    // Sessions are never fresh here: every sensitive form must ask for the password.
    stale = await startServer({ reauthMinutes: 0 });
    await stale.portcullis.users.createUser({ username: 'stale', password: PASSWORD, email: 'stale@example.com', phone: '13600000001' });
  });
  after(() => stale.close());

  async function staleBrowser() {
    const browser = new Browser(stale);
    assert.equal((await browser.submit('/login', '/login', { username: 'stale', password: PASSWORD })).res.status, 303);
    const { html } = await browser.get('/account');
    assert.ok(inputOf(html, 'profile_password'), 'the profile form asks for the password');
    return browser;
  }

  test('changing the email or phone needs the password; other fields do not', async () => {
    const browser = await staleBrowser();
    const base = { first_name: 'Sta', last_name: 'Le', email: 'stale@example.com', phone: '13600000001' };
    assert.equal((await browser.submit('/account', '/account/profile', base)).res.status, 303, 'names only');
    const bare = await browser.submit('/account', '/account/profile', { ...base, email: 'thief@example.com' });
    assert.equal(bare.res.status, 400);
    assert.match(errorsOf(bare.html, 'profile_password'), /password/i);
    const wrong = await browser.submit('/account', '/account/profile', { ...base, email: 'thief@example.com', profile_password: 'wrong' });
    assert.equal(wrong.res.status, 400);
    const phone = await browser.submit('/account', '/account/profile', { ...base, phone: '13600000002' });
    assert.equal(phone.res.status, 400, 'the phone too');
    assert.equal((await stale.portcullis.users.getByUsername('stale'))!.email, 'stale@example.com', 'unchanged');
    const ok = await browser.submit('/account', '/account/profile', { ...base, email: 'new-stale@example.com', profile_password: PASSWORD });
    assert.equal(ok.res.status, 303);
    assert.equal((await stale.portcullis.users.getByUsername('stale'))!.email, 'new-stale@example.com');
  });

  test('“end all other sessions” needs the password, as the API', async () => {
    const browser = await staleBrowser();
    const other = await staleBrowser();
    assert.ok(inputOf((await browser.get('/account')).html, 'others_password'), '“end all other sessions” asks for the password');
    const bare = await browser.submit('/account', '/account/sessions/revoke-others', {});
    assert.equal(bare.res.status, 400);
    assert.match(errorsOf(bare.html, 'others_password'), /password/i);
    assert.equal((await other.get('/account')).res.status, 200, 'the other session lives on');
    const ok = await browser.submit('/account', '/account/sessions/revoke-others', { others_password: PASSWORD });
    assert.equal(ok.res.status, 303);
    assert.equal((await other.get('/account')).res.status, 303, 'the other session has ended');
  });
});

describe('a login step can pause the login at every door', () => {
  for (const [name, door] of Object.entries(doors)) {
    test(`${name}: the right password answers "one more step" (202) and logs nobody in`, async () => {
      await user(`paused-${name}`);
      assert.equal(await door(freshIp(), `paused-${name}`, PASSWORD), 202);
      assert.equal(await door(freshIp(), `paused-${name}`, 'wrong'), 401, 'a wrong password is still just wrong');
    });
  }

  test('the API: no session for the user, the pending login in its own cookie; resumeLogin finishes it', async () => {
    const u = await user('paused-resume');
    const browser = api(freshIp());
    const paused = await browser.post('/api/auth/login', { username: 'paused-resume', password: PASSWORD });
    assert.equal(paused.status, 202);
    assert.deepEqual(await paused.json(), { step: 'confirm', detail: { hint: 'test' } });
    assert.equal((await browser.get('/api/auth/me')).status, 401, 'nobody is logged in yet');
    assert.equal(u.last_login, null);
    const key = browser.cookies.get('sessionid')!;
    const pending = await server.portcullis.sessions.load(key);
    assert.deepEqual(pendingLogin(pending), { userId: u.id, step: 'confirm' });
    assert.equal(await resumeLogin(server.portcullis, pending!, 'another-step', { ip: '192.0.2.1' }), null, 'only at the step that paused it');
    const done = await resumeLogin(server.portcullis, pending!, 'confirm', { ip: '192.0.2.1' });
    assert.equal(done?.outcome, 'logged_in');
    const me = await fetch(server.url + '/api/auth/me', { headers: { authorization: `Session ${done!.outcome === 'logged_in' ? done!.session.key : ''}` } });
    assert.equal(me.status, 200);
    assert.equal(await server.portcullis.sessions.load(key), null, 'the pending session is gone');
  });

  test('the token endpoint issues no tokens for a paused login', async () => {
    await user('paused-tokens');
    const res = await api(freshIp()).post('/api/auth/token', { username: 'paused-tokens', password: PASSWORD });
    assert.equal(res.status, 202);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.access_token, undefined);
    assert.equal(body.step, 'confirm');
    assert.match(res.headers.get('x-session-key') ?? '', /.{20,}/);
  });

  test('the page shows the step and leaves the account page closed', async () => {
    await user('paused-pageview');
    const browser = new Browser(server, { 'x-forwarded-for': freshIp() });
    const { res, html } = await browser.submit('/login', '/login', { username: 'paused-pageview', password: PASSWORD });
    assert.equal(res.status, 202);
    assert.match(html, /One more step is needed to log in: confirm/);
    assert.equal((await browser.get('/account')).res.status, 303, 'sent back to the login');
  });
});

describe('the origin rule (CSRF) at every door', () => {
  const EVIL = 'http://evil.example';
  const post = (url: string, body: unknown, headers: Record<string, string>) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const viaFetch = (path: string, body: unknown, headers: Record<string, string>) =>
    fetchLogin(new Request('http://app.test' + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-client-ip': freshIp(), ...headers }, body: JSON.stringify(body) }));

  test('a login from a foreign origin is refused 403 at every door, cookie or not', async () => {
    await user('csrf-login');
    const creds = { username: 'csrf-login', password: PASSWORD };
    const answers = [
      (await post(server.url + '/api/auth/login', creds, { origin: EVIL })).status,
      (await post(server.url + '/api/auth/token', creds, { origin: EVIL })).status,
      (await post(expressUrl + '/app-login', creds, { origin: EVIL })).status,
      (await post(fastifyUrl + '/app-login', creds, { origin: EVIL })).status,
      (await viaFetch('/app-login', creds, { origin: EVIL })).status,
      (await post(expressUrl + '/app-login', creds, { 'sec-fetch-site': 'cross-site' })).status,
    ];
    assert.deepEqual(answers, [403, 200, 403, 403, 403, 403], 'the token endpoint sets no cookie, so it is not a login CSRF');
  });

  test('a cookie-riding write from a foreign origin is refused; the same with an Authorization header is not', async () => {
    await user('csrf-writer');
    const login = await api(freshIp()).post('/api/auth/login', { username: 'csrf-writer', password: PASSWORD });
    const key = /sessionid=([^;]+)/.exec(login.headers.getSetCookie().join(';'))![1]!;
    const cookie = { cookie: `sessionid=${key}`, origin: EVIL };
    const header = { cookie: `sessionid=${key}`, origin: EVIL, authorization: `Session ${key}` };
    for (const [door, send] of [
      ['express', (h: Record<string, string>) => post(expressUrl + '/app-write', {}, h)],
      ['fastify', (h: Record<string, string>) => post(fastifyUrl + '/app-write', {}, h)],
      ['fetch', (h: Record<string, string>) => viaFetch('/app-write', {}, h)],
      ['server', (h: Record<string, string>) => post(server.url + '/api/auth/sessions/revoke-others', {}, h)],
    ] as const) {
      assert.equal((await send(cookie)).status, 403, `${door}: the cookie from a foreign page`);
      assert.equal((await send(header)).status, 200, `${door}: authorized by the header, not the cookie`);
    }
  });
});

describe('unknown, inactive and wrong look alike at every door', () => {
  for (const [name, door] of Object.entries(doors)) {
    test(`${name}: one answer for an unknown user, an inactive one and a wrong password`, async () => {
      const sleeper = await user(`sleeper-${name}`);
      await server.portcullis.deactivate(sleeper);
      await user(`awake-${name}`);
      const answers = [
        await door(freshIp(), `nobody-${name}`, PASSWORD),
        await door(freshIp(), `sleeper-${name}`, PASSWORD),
        await door(freshIp(), `awake-${name}`, 'wrong password'),
      ];
      assert.deepEqual(answers, [401, 401, 401]);
    });
  }
});

describe('a password change ends the other sessions at every door that reads them', () => {
  test('sessions from the API, the page and the adapters stop working; the changing one goes on', async () => {
    await user('changer');
    const ip = freshIp();
    const keyOf = (res: Response) => /sessionid=([^;]+)/.exec(res.headers.getSetCookie().join(';'))?.[1];
    const viaApi = await api(ip).post('/api/auth/login', { username: 'changer', password: PASSWORD });
    const viaExpress = await fetch(expressUrl + '/app-login', { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify({ username: 'changer', password: PASSWORD }) });
    const page = new Browser(server, { 'x-forwarded-for': ip });
    assert.equal((await page.submit('/login', '/login', { username: 'changer', password: PASSWORD })).res.status, 303);
    const keys = [keyOf(viaApi)!, keyOf(viaExpress)!];
    const reads = async () => [
      ...(await Promise.all(keys.map(async (k) => (await fetch(server.url + '/api/auth/me', { headers: { cookie: `sessionid=${k}` } })).status))),
      ...(await Promise.all(keys.map(async (k) => (await fetch(fastifyUrl + '/app-write', { method: 'POST', headers: { cookie: `sessionid=${k}` } })).status))),
      (await page.get('/account')).res.status,
    ];
    assert.deepEqual(await reads(), [200, 200, 200, 200, 200]);
    const changer = api(ip);
    assert.equal((await changer.post('/api/auth/login', { username: 'changer', password: PASSWORD })).status, 200);
    assert.equal((await changer.post('/api/auth/password', { old_password: PASSWORD, new_password: 'changer brand new phrase' })).status, 200);
    assert.deepEqual(await reads(), [401, 401, 401, 401, 303]);
    assert.equal((await changer.get('/api/auth/me')).status, 200, 'the changing session goes on under a new key');
  });
});

describe('the password hash never leaves the server, not even to the library’s caller', () => {
  test('users from the manager serialise without it; the adapters hand out the API’s view', async () => {
    const u = await user('hashless', { email: 'hashless@example.com' });
    const found = (await server.portcullis.users.getByLogin('HASHLESS@example.com'))!;
    assert.match(found.password, /^argon2\$/, 'the server can still read it');
    for (const shown of [u, found, await server.portcullis.users.getById(u.id)]) {
      const text = JSON.stringify(shown);
      assert.ok(!text.includes('argon2') && !text.includes('"password"'), text);
      assert.ok(!Object.keys(shown!).includes('password'));
    }
    const spread = { ...found };
    assert.equal('password' in spread, false, 'a spread leaves it behind too');
    const res = await fetch(expressUrl + '/app-login', { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': freshIp() }, body: JSON.stringify({ username: 'hashless', password: PASSWORD }) });
    const body = await res.text();
    assert.equal(res.status, 200);
    assert.ok(body.includes('"username":"hashless"') && !body.includes('argon2') && !body.includes('password'), body);
  });
});

describe('the Express adapter answers in the contract’s shape by default', () => {
  test('without errorHandler(): a portcullis error in a route, and a malformed body, are contract JSON', async () => {
    const app = express();
    app.use(expressPortcullis(server.portcullis));
    app.use(express.json());
    app.post('/needs-perm', async (req, res) => {
      await req.portcullis.requirePerm('reports.view_report');
      res.json({ ok: true });
    });
    const listening = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
      const denied = await fetch(url + '/needs-perm', { method: 'POST' });
      assert.equal(denied.status, 401);
      assert.equal(((await denied.json()) as ErrorBody).error.code, 'not_authenticated');
      const malformed = await fetch(url + '/needs-perm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"broken' });
      assert.equal(malformed.status, 400);
      assert.match(malformed.headers.get('content-type') ?? '', /application\/json/);
      assert.equal(((await malformed.json()) as ErrorBody).error.code, 'validation_error');
    } finally {
      await new Promise((resolve) => listening.close(resolve));
    }
  });
});

/** A session cookie (`sessionid=…`) of a fresh user logged in through the API, for the apps beside it. */
async function loggedInCookie(username: string): Promise<string> {
  await user(username);
  const client = api(freshIp());
  assert.equal((await client.post('/api/auth/login', { username, password: PASSWORD })).status, 200);
  return `sessionid=${client.cookies.get('sessionid')}`;
}

/** What each app below must answer: portcullis's errors in the contract's shape, the app's own as the app says. */
async function assertContractAnswers(url: string): Promise<void> {
  const code = async (res: Response) => ((await res.json()) as ErrorBody).error.code;
  const anonymous = await fetch(url + '/needs-perm');
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(await code(anonymous), 'not_authenticated');
  const cookie = await loggedInCookie(`no-perm-${seq}`);
  const denied = await fetch(url + '/needs-perm', { headers: { cookie, 'accept-language': 'zh-CN' } });
  assert.equal(denied.status, 403);
  const body = (await denied.json()) as ErrorBody;
  assert.equal(body.error.code, 'permission_denied');
  assert.match(body.error.message, /[\u4e00-\u9fff]/, 'in the caller’s language');
  const big = await fetch(url + '/big-session');
  assert.equal(big.status, 413);
  assert.equal(await code(big), 'payload_too_large');
  const own = await fetch(url + '/own-error');
  assert.equal(own.status, 418);
  assert.deepEqual(await own.json(), { app: 'teapot' }, 'the app’s own error keeps the app’s answer');
}

const BIG = 'y'.repeat(70 * 1024);

describe('the Fastify adapter answers in the contract’s shape by default', () => {
  test('portcullis errors thrown in a handler are contract JSON; the app’s own error handler keeps the rest, and is set without a warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    // allowErrorHandlerOverride: false makes a second setErrorHandler in one scope throw: the plugin sets none.
    const app = Fastify({ allowErrorHandlerOverride: false });
    try {
      await app.register(fastifyPortcullis, { portcullis: server.portcullis });
      app.setErrorHandler((err: Error & { statusCode?: number }, _request, reply) => reply.code(err.statusCode ?? 500).send({ app: err.message }));
      app.get('/needs-perm', async (request) => {
        await request.portcullis.requirePerm('reports.view_report');
        return { ok: true };
      });
      app.get('/big-session', async (request) => {
        request.session.set('cart', BIG);
        return { ok: true };
      });
      app.get('/own-error', async () => {
        throw Object.assign(new Error('teapot'), { statusCode: 418 });
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      await assertContractAnswers(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
      assert.deepEqual(warnings.filter((w) => /FSTWRN|errorHandler/.test(w)), []);
    } finally {
      process.off('warning', onWarning);
      await app.close();
    }
  });
});

describe('the Hono middleware answers in the contract’s shape by default', () => {
  test('portcullis errors thrown in a handler are contract JSON over the app’s onError; its own errors keep its answer', async () => {
    const pc = portcullisFetch(server.portcullis);
    const app = new Hono<{ Variables: { user: PublicUser | null; session: RequestSession } }>();
    app.use(pc.middleware());
    app.onError((err, c) => c.json({ app: err.message }, err.message === 'teapot' ? 418 : 500));
    app.get('/needs-perm', async (c) => c.json({ user: await pc.requirePerm(c.req.raw, 'reports.view_report') }));
    app.get('/big-session', (c) => {
      c.get('session').set('cart', BIG);
      return c.json({ ok: true });
    });
    app.get('/own-error', () => {
      throw new Error('teapot');
    });
    const listening = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    try {
      await assertContractAnswers(`http://127.0.0.1:${(listening.address() as AddressInfo).port}`);
    } finally {
      await new Promise((resolve) => listening.close(resolve));
    }
  });
});

describe('what an attacker tried next', () => {
  test('a burst from many clients at once cannot put more guesses in flight than the hard ceiling', async () => {
    await user('burst-target');
    const answers = await Promise.all(Array.from({ length: 30 }, () => doors.api!(freshIp(), 'burst-target', 'wrong')));
    assert.ok(answers.filter((s) => s === 401).length <= CEILING, JSON.stringify(answers));
    assert.equal(await doors.api!(freshIp(), 'burst-target', PASSWORD), 429, 'and the account is then locked');
  });

  test('credentials with no username are counted by what they name, or per client: never one shared counter', async () => {
    const viaFetch = (credentials: Record<string, unknown>, ip: string) =>
      fetchLogin(new Request('http://app.test/app-login', { method: 'POST', headers: { 'content-type': 'application/json', 'x-client-ip': ip }, body: JSON.stringify(credentials) }));
    for (let i = 0; i < CEILING + 2; i++) assert.equal((await viaFetch({ email: `ghost-${i}@example.com`, password: 'x' }, freshIp())).status, 401);
    for (let i = 0; i < CEILING + 2; i++) assert.equal((await viaFetch({ token: `t${i}` }, freshIp())).status, 401);
    assert.equal((await viaFetch({ email: 'someone-else@example.com', password: 'x' }, freshIp())).status, 401, 'not locked by the others');
    assert.equal((await viaFetch({ token: 'fresh' }, freshIp())).status, 401, 'nor are identifier-less credentials');
  });

  test('a username that is also the email: reset mails still find it, and renaming keeps the address its own', async () => {
    const u = await user('same@example.com', { email: 'same@example.com' });
    assert.deepEqual((await server.portcullis.users.getByEmail('SAME@example.com')).map((x) => x.id), [u.id]);
    await server.portcullis.users.update(u.id, { username: 'renamed-same' });
    assert.equal((await server.portcullis.users.getByLogin('same@example.com'))?.id, u.id, 'the address still names its account');
    const squat = await api(freshIp()).post('/api/auth/register', { username: 'SAME@example.com', password: PASSWORD });
    assert.equal(squat.status, 409);
  });

  test('a custom field cannot be named like one of auth_user’s own (the password, a flag)', () => {
    for (const name of ['password', 'is_superuser', 'is_staff', 'username']) {
      assert.throws(() => resolveConfig({ userFields: { [name]: { type: 'string' } }, secretKey: 'k'.repeat(40) }, {}, {}), /auth_user's own fields/, name);
    }
  });

  test('with email not a login field, changing it still needs the password', async () => {
    const narrow = await startServer({ reauthMinutes: 0, loginFields: ['username'] });
    try {
      await narrow.portcullis.users.createUser({ username: 'narrow', password: PASSWORD, email: 'narrow@example.com' });
      const browser = new Browser(narrow);
      assert.equal((await browser.submit('/login', '/login', { username: 'narrow', password: PASSWORD })).res.status, 303);
      const bare = await browser.submit('/account', '/account/profile', { first_name: '', last_name: '', email: 'thief@example.com', phone: '' });
      assert.equal(bare.res.status, 400);
      assert.equal((await narrow.portcullis.users.getByUsername('narrow'))!.email, 'narrow@example.com');
    } finally {
      await narrow.close();
    }
  });

  test('a Bearer header on a cookie request means the cookie is not read at all', async () => {
    await user('bearer-cookie');
    const login = await api(freshIp()).post('/api/auth/login', { username: 'bearer-cookie', password: PASSWORD });
    const cookie = /sessionid=[^;]+/.exec(login.headers.getSetCookie().join(';'))![0];
    const forged = await fetch(server.url + '/api/auth/logout', { method: 'POST', headers: { cookie, origin: 'http://evil.example', authorization: 'Bearer junk' } });
    assert.equal(forged.status, 204);
    assert.equal((await fetch(server.url + '/api/auth/me', { headers: { cookie } })).status, 200, 'the session the cookie names lives on');
  });
});

test('an application session written on a read shows in the next read at every adapter, while the auth cache answers', async () => {
  // From the third read on, the auth cache answers these GETs and the session's data comes with it:
  // each write must still be the next request's starting point.
  await user('visitor');
  const body = JSON.stringify({ username: 'visitor', password: PASSWORD });
  const headers = { 'content-type': 'application/json' };
  const cookieOf = (res: Response) => res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const adapters: Record<string, (path: string, init: RequestInit) => Promise<Response>> = {
    express: (path, init) => fetch(expressUrl + path, init),
    fastify: (path, init) => fetch(fastifyUrl + path, init),
    fetch: (path, init) => fetchLogin(new Request('http://app.test' + path, init)),
  };
  for (const [name, send] of Object.entries(adapters)) {
    const login = await send('/app-login', { method: 'POST', headers: { ...headers, 'x-forwarded-for': freshIp(), 'x-client-ip': freshIp() }, body });
    assert.equal(login.status, 200, name);
    const cookie = cookieOf(login);
    for (let n = 1; n <= 5; n++) {
      const res = await send('/app-visits', { headers: { cookie } });
      assert.deepEqual(await res.json(), { visits: n }, `${name}, read ${n}`);
    }
  }
});
