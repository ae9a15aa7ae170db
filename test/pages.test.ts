import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSWORD, startServer, type TestServer } from './helpers.js';
import { Browser, csrfFieldOf, errorsOf, inputOf } from './browser.js';
import { resetLinkIn, startSmtp, waitFor } from './smtp.js';
import { encodeUid } from '../src/auth/password-reset.js';

let server: TestServer;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
before(async () => {
  // Reset mails go through a real SMTP server; X-Forwarded-For from loopback names a client, for the throttle tests.
  smtp = await startSmtp();
  server = await startServer({ smtpUrl: smtp.url, mailFrom: 'accounts@example.test', trustedProxies: ['127.0.0.1'] });
  await server.portcullis.users.createUser({ username: 'alice', password: PASSWORD, email: 'alice@example.com', phone: '13812345678' });
  await server.portcullis.users.createUser({ username: 'staffer', password: PASSWORD, is_staff: true });
  await server.portcullis.users.createSuperuser({ username: 'root', password: PASSWORD });
  await server.portcullis.users.createUser({ username: 'bob', password: PASSWORD, email: 'bob@example.com' });
});
after(async () => {
  await server.close();
  await smtp.close();
});

function labelFor(html: string, id: string): string | undefined {
  return new RegExp(`<label for="${id}">([^<]*)</label>`).exec(html)?.[1];
}


async function loggedIn(username: string, headers: Record<string, string> = {}) {
  const browser = new Browser(server, headers);
  const { res } = await browser.submit('/login', '/login', { username, password: PASSWORD, remember: 'on' });
  assert.equal(res.status, 303);
  return browser;
}

describe('rendering', () => {
  test('each public page: 200, lang, labelled fields, CSRF field, skip link, strict CSP, no-store', async () => {
    for (const path of ['/login', '/register']) {
      const browser = new Browser(server);
      const { res, html } = await browser.get(path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
      assert.match(html, /^<!doctype html>\n<html lang="en">/);
      assert.match(html, /<a class="skip-link" href="#main">/);
      assert.match(html, /<main id="main"/);
      assert.ok(csrfFieldOf(html), 'CSRF hidden field');
      assert.equal(csrfFieldOf(html), browser.cookies.get('csrftoken'), 'the field carries the cookie’s token');
      for (const name of ['username', 'password'].filter((n) => path === '/login' || n !== 'password')) {
        assert.ok(labelFor(html, `id_${name}`), `${path}: label for ${name}`);
      }
      const csp = res.headers.get('content-security-policy') ?? '';
      for (const part of ["default-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "script-src 'self'"]) assert.ok(csp.includes(part), part);
      assert.doesNotMatch(html, /<script>|<script(?![^>]*\bsrc=)[^>]*>|\bon[a-z]+="|style="/, 'no inline script or style');
      assert.equal(res.headers.get('cache-control'), 'no-store');
    }
    const { html } = await new Browser(server).get('/register');
    for (const name of ['username', 'email', 'phone', 'password1', 'password2']) assert.ok(labelFor(html, `id_${name}`), `label for ${name}`);
    assert.ok('autofocus' in inputOf(html, 'username')!);
  });

  test('the stylesheet and script are served from the package with long caching', async () => {
    const { html } = await new Browser(server).get('/login');
    const css = /<link rel="stylesheet" href="([^"]+)">/.exec(html)?.[1];
    const js = /<script src="([^"]+)" defer>/.exec(html)?.[1];
    assert.ok(css && js);
    const cssRes = await new Browser(server).get(css);
    assert.equal(cssRes.res.status, 200);
    assert.match(cssRes.res.headers.get('content-type') ?? '', /^text\/css/);
    assert.match(cssRes.html, /:focus-visible/);
    const jsRes = await new Browser(server).get(js);
    assert.match(jsRes.res.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(jsRes.res.headers.get('cache-control') ?? '', /immutable/);
  });

  test('Chinese by Accept-Language', async () => {
    const { html } = await new Browser(server, { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.5' }).get('/login');
    assert.match(html, /<html lang="zh-CN">/);
    assert.equal(labelFor(html, 'id_username'), '用户名、电子邮件或手机号');
    assert.match(html, /跳到主要内容/);
    const failed = await new Browser(server, { 'accept-language': 'zh-CN' }).submit('/login', '/login', { username: 'alice', password: 'wrong password' });
    assert.match(errorsOf(failed.html, 'password'), /用户名或密码不正确。/);
  });
});

describe('login', () => {
  test('a form post without the CSRF field, or with a wrong one, gets the 403 page', async () => {
    const browser = new Browser(server);
    await browser.get('/login');
    const missing = await browser.request('POST', '/login', { username: 'alice', password: PASSWORD });
    assert.equal(missing.res.status, 403);
    assert.match(missing.html, /CSRF verification failed/);
    assert.match(missing.res.headers.get('content-type') ?? '', /text\/html/);
    const wrong = await browser.request('POST', '/login', { username: 'alice', password: PASSWORD, csrfmiddlewaretoken: 'x'.repeat(32) });
    assert.equal(wrong.res.status, 403);
    const noCookie = new Browser(server);
    const token = csrfFieldOf((await browser.get('/login')).html)!;
    const forged = await noCookie.request('POST', '/login', { username: 'alice', password: PASSWORD, csrfmiddlewaretoken: token });
    assert.equal(forged.res.status, 403, 'the field alone is not enough without the matching cookie');
    assert.ok(!browser.cookies.has('sessionid') && !noCookie.cookies.has('sessionid'));
  });

  test('a cross-site origin is refused even with a matching token', async () => {
    const browser = new Browser(server);
    const res = await browser.submit('/login', '/login', { username: 'alice', password: PASSWORD }, { origin: 'https://evil.example' });
    assert.equal(res.res.status, 403);
  });

  test('success sets the session cookie, rotates the CSRF token and redirects to /account', async () => {
    const browser = new Browser(server);
    const before = (await browser.get('/login')).html;
    const token = csrfFieldOf(before)!;
    const { res } = await browser.request('POST', '/login', { csrfmiddlewaretoken: token, username: 'alice@example.com', password: PASSWORD, remember: 'on' });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/account');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sessionid='));
    assert.ok(cookie && /HttpOnly/i.test(cookie) && /Max-Age=1209600/.test(cookie));
    assert.notEqual(browser.cookies.get('csrftoken'), token, 'a new CSRF token after login');
    const account = await browser.get('/account');
    assert.equal(account.res.status, 200);
    assert.match(account.html, /alice/);
  });

  test('without remember me the cookie lasts for the browser session; the phone number logs in too', async () => {
    const browser = new Browser(server);
    const { res } = await browser.submit('/login', '/login', { username: '13812345678', password: PASSWORD });
    assert.equal(res.status, 303);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sessionid='));
    assert.ok(cookie && !/Max-Age|Expires/i.test(cookie));
  });

  test('a wrong password shows the error beside the password field, keeps the username, focuses the field', async () => {
    const { res, html } = await new Browser(server).submit('/login', '/login', { username: 'alice', password: 'not the password' });
    assert.equal(res.status, 401);
    assert.match(errorsOf(html, 'password'), /The username or password is not correct\./);
    assert.equal(inputOf(html, 'username')!.value, 'alice');
    assert.equal(inputOf(html, 'password')!.value, undefined, 'the password is never echoed');
    assert.ok('autofocus' in inputOf(html, 'password')!);
    assert.ok(!('autofocus' in inputOf(html, 'username')!));
    assert.match(html, /role="alert"/);
  });

  test('empty fields are required, each beside its own field', async () => {
    const { res, html } = await new Browser(server).submit('/login', '/login', { username: '', password: '' });
    assert.equal(res.status, 400);
    assert.match(errorsOf(html, 'username'), /This field is required\./);
    assert.match(errorsOf(html, 'password'), /This field is required\./);
    assert.ok('autofocus' in inputOf(html, 'username')!);
  });

  test('a JSON body on a page route is refused; a form body on the API is refused', async () => {
    const browser = new Browser(server);
    await browser.get('/login');
    const json = await browser.request('POST', '/login', undefined, { 'content-type': 'application/json', origin: server.origin });
    assert.ok([403, 415].includes(json.res.status));
    const api = await fetch(server.url + '/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.origin }, body: 'username=alice&password=x' });
    assert.equal(api.status, 415);
  });
});

describe('register', () => {
  test('errors show beside their fields: taken username, bad email, mismatched passwords', async () => {
    const { res, html } = await new Browser(server).submit('/register', '/register', { username: 'alice', email: 'nope', phone: '', password1: PASSWORD, password2: 'different' });
    assert.equal(res.status, 400);
    assert.match(errorsOf(html, 'email'), /Enter a valid email address\./);
    assert.match(errorsOf(html, 'password2'), /didn’t match/);
    assert.ok('autofocus' in inputOf(html, 'email')!, 'the first field with an error takes the focus');
    assert.equal(inputOf(html, 'email')!.value, 'nope');
    const taken = await new Browser(server).submit('/register', '/register', { username: 'alice', email: '', phone: '', password1: PASSWORD, password2: PASSWORD });
    assert.equal(taken.res.status, 409);
    assert.match(errorsOf(taken.html, 'username'), /A user with that username already exists\./);
  });

  test('the password validators speak beside the password field', async () => {
    const { html } = await new Browser(server).submit('/register', '/register', { username: 'carol', email: '', phone: '', password1: '12345678', password2: '12345678' });
    const errors = errorsOf(html, 'password1');
    assert.match(errors, /too common/);
    assert.match(errors, /entirely numeric/);
    const zh = await new Browser(server, { 'accept-language': 'zh-CN' }).submit('/register', '/register', { username: 'carol', email: '', phone: '', password1: 'short', password2: 'short' });
    assert.match(errorsOf(zh.html, 'password1'), /密码太短/);
  });

  test('a valid form creates the account and sends the visitor to log in', async () => {
    const { res } = await new Browser(server).submit('/register', '/register', { username: 'dave', email: 'dave@example.com', phone: '13900000000', password1: PASSWORD, password2: PASSWORD });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/login?done=registered');
    const dave = await server.portcullis.users.getByUsername('dave');
    assert.equal(dave?.fields.phone, '13900000000');
    assert.equal(dave?.is_staff, false);
    const { html } = await new Browser(server).get('/login?done=registered');
    assert.match(html, /role="status">Your account has been created/);
  });
});

describe('account', () => {
  test('anonymous visitors are sent to the login form', async () => {
    const { res } = await new Browser(server).get('/account');
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/login?next=/account');
  });

  test('lists the sessions with device and current marker; one can be revoked, then all others', async () => {
    await server.portcullis.users.createUser({ username: 'erin', password: PASSWORD });
    const laptop = await loggedIn('erin');
    const phone = await loggedIn('erin', { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1' });
    const tablet = await loggedIn('erin', { 'user-agent': 'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36' });
    const { html } = await laptop.get('/account');
    assert.match(html, /Firefox on Linux <span class="badge">This device<\/span>/);
    assert.match(html, /Safari on iOS/);
    assert.match(html, /Chrome on Android/);
    assert.equal((html.match(/action="\/account\/sessions\/[^/"]+\/revoke"/g) ?? []).length, 2, 'a revoke button for each other session');
    assert.equal((await phone.get('/account')).res.status, 200);

    const sessions = await server.portcullis.sessions.list((await server.portcullis.users.getByUsername('erin'))!.id);
    const phoneSession = sessions.find((s) => s.userAgent?.includes('iPhone'))!;
    const revoked = await laptop.submit('/account', `/account/sessions/${phoneSession.publicId}/revoke`, {});
    assert.equal(revoked.res.status, 303);
    assert.equal(revoked.res.headers.get('location'), '/account?done=revoked');
    assert.equal((await phone.get('/account')).res.status, 303, 'the phone is logged out');
    assert.equal((await tablet.get('/account')).res.status, 200);

    const others = await laptop.submit('/account', '/account/sessions/revoke-others', {});
    assert.equal(others.res.headers.get('location'), '/account?done=others_revoked&n=1');
    assert.equal((await tablet.get('/account')).res.status, 303);
    const after = await laptop.get('/account?done=others_revoked&n=1');
    assert.equal(after.res.status, 200);
    assert.match(after.html, /Other sessions ended: 1\./);
  });

  test('someone else’s session id is a 404 page', async () => {
    const browser = await loggedIn('bob');
    const alice = (await server.portcullis.users.getByUsername('alice'))!;
    const [theirs] = await server.portcullis.sessions.list(alice.id);
    assert.ok(theirs);
    const { res, html } = await browser.submit('/account', `/account/sessions/${theirs.publicId}/revoke`, {});
    assert.equal(res.status, 404);
    assert.match(html, /<html lang="en">/);
  });

  test('change password: errors beside the fields; success keeps this session and ends the others', async () => {
    await server.portcullis.users.createUser({ username: 'frank', password: PASSWORD });
    const browser = await loggedIn('frank');
    const other = await loggedIn('frank');
    const wrong = await browser.submit('/account', '/account/password', { old_password: 'nope', new_password1: 'another fine passphrase', new_password2: 'another fine passphrase' });
    assert.equal(wrong.res.status, 400);
    assert.match(errorsOf(wrong.html, 'old_password'), /Your old password was entered incorrectly/);
    const weak = await browser.submit('/account', '/account/password', { old_password: PASSWORD, new_password1: 'frank', new_password2: 'frank' });
    assert.match(errorsOf(weak.html, 'new_password1'), /too short/);
    const ok = await browser.submit('/account', '/account/password', { old_password: PASSWORD, new_password1: 'another fine passphrase', new_password2: 'another fine passphrase' });
    assert.equal(ok.res.status, 303);
    assert.equal((await browser.get('/account')).res.status, 200, 'this session goes on under its new key');
    assert.equal((await other.get('/account')).res.status, 303, 'the other one ended');
  });

  test('profile: saved, and an invalid email is shown beside its field', async () => {
    await server.portcullis.users.createUser({ username: 'gina', password: PASSWORD });
    const browser = await loggedIn('gina');
    const bad = await browser.submit('/account', '/account/profile', { first_name: 'Gina', last_name: '', email: 'bad', phone: '' });
    assert.equal(bad.res.status, 400);
    assert.match(errorsOf(bad.html, 'email'), /valid email/);
    const ok = await browser.submit('/account', '/account/profile', { first_name: 'Gina', last_name: 'Lee', email: 'gina@example.com', phone: '' });
    assert.equal(ok.res.status, 303);
    assert.equal((await server.portcullis.users.getByUsername('gina'))?.last_name, 'Lee');
  });

  test('logout ends the session', async () => {
    const browser = await loggedIn('bob');
    const { res } = await browser.submit('/account', '/logout', {});
    assert.equal(res.status, 303);
    assert.ok(!browser.cookies.has('sessionid'));
    assert.equal((await browser.get('/account')).res.status, 303);
  });
});

describe('admin pages', () => {
  test('anonymous → login, non-staff → 403 page, staff without view_user → 403 page, superuser → list', async () => {
    const anon = await new Browser(server).get('/admin/');
    assert.equal(anon.res.status, 303);
    assert.equal(anon.res.headers.get('location'), '/login?next=/admin/');
    const plain = await (await loggedIn('alice')).get('/admin/');
    assert.equal(plain.res.status, 403);
    assert.match(plain.html, /You do not have permission/);
    assert.equal((await (await loggedIn('staffer')).get('/admin/')).res.status, 403);
    const root = await loggedIn('root');
    const { res, html } = await root.get('/admin/');
    assert.equal(res.status, 200);
    assert.match(html, /<a href="\/admin\/users\/\d+">alice<\/a>/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal((await root.get('/admin')).res.headers.get('location'), '/admin/');
  });

  test('search and pagination', async () => {
    for (let i = 0; i < 30; i++) await server.portcullis.users.createUser({ username: `bulk${String(i).padStart(2, '0')}`, password: null });
    const root = await loggedIn('root');
    const first = await root.get('/admin/?q=bulk');
    assert.match(first.html, /Users found: 30/);
    assert.match(first.html, /Page 1 of 2/);
    assert.match(first.html, /<a href="\/admin\/\?q=bulk&amp;page=2" rel="next">/);
    const second = await root.get('/admin/?q=bulk&page=2');
    assert.match(second.html, /bulk29/);
    assert.doesNotMatch(second.html, />bulk00</);
    const zh = await root.get('/admin/?q=bulk', { 'accept-language': 'zh-CN' });
    assert.match(zh.html, /找到的用户：30 个/);
  });

  test('deactivate from the list ends the user’s sessions; activate brings the account back', async () => {
    const target = await server.portcullis.users.createUser({ username: 'henry', password: PASSWORD });
    const henry = await loggedIn('henry');
    const root = await loggedIn('root');
    const off = await root.submit('/admin/?q=henry', `/admin/users/${target.id}/active`, { is_active: 'off', back: '/admin/?q=henry' });
    assert.equal(off.res.status, 303);
    assert.equal(off.res.headers.get('location'), '/admin/?q=henry&done=deactivated');
    assert.equal((await henry.get('/account')).res.status, 303, 'logged out at once');
    const on = await root.submit('/admin/?q=henry', `/admin/users/${target.id}/active`, { is_active: 'on', back: 'https://evil.example/' });
    assert.equal(on.res.headers.get('location'), '/admin/?done=activated', 'back only within /admin/');
    assert.equal((await server.portcullis.users.getById(target.id))?.is_active, true);
  });

  test('edit flags and groups; only superusers see the superuser flag enabled', async () => {
    const target = await server.portcullis.users.createUser({ username: 'iris', password: PASSWORD });
    const root = await loggedIn('root');
    const page = `/admin/users/${target.id}`;
    const saved = await root.submit(page, page, { is_active: 'on', is_staff: 'on', groups: 'editors, writers', permissions: 'blog.add_post\nblog.change_post', first_name: 'Iris', last_name: '', email: '' });
    assert.equal(saved.res.status, 303, saved.html);
    assert.equal((await server.portcullis.users.getById(target.id))?.is_staff, true);
    assert.deepEqual(await server.portcullis.permissions.userGroups(target.id), ['editors', 'writers']);
    const shown = await root.get(page + '?done=saved');
    assert.match(shown.html, /The user has been saved\./);
    assert.equal(inputOf(shown.html, 'groups')!.value, 'editors, writers');

    const bad = await root.submit(page, page, { is_active: 'on', groups: 'editors', permissions: 'not-a-permission', first_name: '', last_name: '', email: '' });
    assert.equal(bad.res.status, 400);
    assert.match(errorsOf(bad.html, 'permissions'), /app_label\.codename/);
    assert.ok('autofocus' in inputOf(bad.html, 'permissions')!);

    const staffer = (await server.portcullis.users.getByUsername('staffer'))!;
    await server.portcullis.permissions.grantToUser(staffer.id, 'auth.change_user');
    const staff = await loggedIn('staffer');
    const form = await staff.get(page);
    assert.ok('disabled' in inputOf(form.html, 'is_superuser')!);
    const attempt = await staff.request('POST', page, { csrfmiddlewaretoken: csrfFieldOf(form.html)!, is_active: 'on', is_superuser: 'on', groups: '', permissions: '', first_name: '', last_name: '', email: '' });
    assert.equal(attempt.res.status, 303);
    assert.equal((await server.portcullis.users.getById(target.id))?.is_superuser, false, 'a non-superuser cannot grant it');
    const root2 = (await server.portcullis.users.getByUsername('root'))!;
    const onRoot = await staff.submit(`/admin/`, `/admin/users/${root2.id}/revoke-sessions`, {});
    assert.equal(onRoot.res.status, 403, 'nor touch a superuser');
  });

  test('end sessions from the admin page', async () => {
    const target = await server.portcullis.users.createUser({ username: 'jack', password: PASSWORD });
    const jack = await loggedIn('jack');
    const root = await loggedIn('root');
    const { res } = await root.submit(`/admin/users/${target.id}`, `/admin/users/${target.id}/revoke-sessions`, { back: `/admin/users/${target.id}` });
    assert.equal(res.headers.get('location'), `/admin/users/${target.id}?done=sessions_ended&n=1`);
    assert.equal((await jack.get('/account')).res.status, 303);
  });
});

/**
 * Spellings of another site that a naive `//` check lets through: the browser's URL parser drops
 * tabs and newlines, reads `\` as `/` and resolves dot segments before it picks the host.
 */
const HOSTILE_TARGETS = [
  '//evil.example/x',
  'https://evil.example/',
  'http:\\\\evil.example',
  '/\\evil.example',
  '\\\\evil.example',
  '///evil.example',
  '/.//evil.example',
  '/./\\evil.example',
  '/.\\/evil.example',
  '/..//evil.example',
  '/x/..//evil.example',
  '/%2e%2e//evil.example',
  '/x/%2e%2e/%2e%2e//evil.example',
  '/%2F/evil.example',
  '/%5Cevil.example',
  '/\t/evil.example',
  '/\n/evil.example',
  '\t//evil.example',
  ' //evil.example',
  '/\r\n//evil.example',
  'javascript:alert(1)',
  'data:text/html,hi',
];

/** A Location a browser resolves to this server, and whose path cannot be read as a host either. */
function assertSameSite(location: string | null, what: string): void {
  assert.ok(location, `${what}: a Location`);
  assert.equal(new URL(location, server.origin).origin, server.origin, `${what}: ${location} stays on this site`);
  assert.match(location, /^\/(?![/\\])/, `${what}: ${location} is a plain path`);
  assert.doesNotMatch(location, /[\u0000-\u001f]/, what);
}

describe('redirect targets (no open redirect)', () => {
  test('login: a hostile ?next= is neither kept in the form nor followed after login', async () => {
    for (const next of HOSTILE_TARGETS) {
      const page = await new Browser(server).get(`/login?next=${encodeURIComponent(next)}`);
      const kept = inputOf(page.html, 'next')?.value;
      if (kept !== undefined) assertSameSite(kept, `GET /login?next=${JSON.stringify(next)}`);
      const { res } = await new Browser(server).submit('/login', '/login', { username: 'alice', password: PASSWORD, next });
      assert.equal(res.status, 303);
      assertSameSite(res.headers.get('location'), `POST /login next=${JSON.stringify(next)}`);
    }
  });

  test('login: a same-site next is kept, normalised, with its query and fragment', async () => {
    for (const [next, expected] of [
      ['/account?x=1#y', '/account?x=1#y'],
      ['/admin/', '/admin/'],
      ['/admin/../account', '/account'],
      ['/admin/?q=a b', '/admin/?q=a%20b'],
    ] as const) {
      const { html } = await new Browser(server).get(`/login?next=${encodeURIComponent(next)}`);
      assert.equal(inputOf(html, 'next')?.value, expected, `the form keeps ${next}`);
      const { res } = await new Browser(server).submit('/login', '/login', { username: 'alice', password: PASSWORD, next });
      assert.equal(res.headers.get('location'), expected, next);
    }
    const { res } = await new Browser(server).submit('/login', '/login', { username: 'alice', password: PASSWORD, next: '/.//evil.example' });
    assert.equal(res.headers.get('location'), '/account', 'a refused target falls back to the account page');
  });

  test('register and logout follow no target at all', async () => {
    const reg = await new Browser(server).submit('/register', '/register', { username: 'redirectee', email: '', phone: '', password1: PASSWORD, password2: PASSWORD, next: '/.//evil.example' });
    assert.equal(reg.res.headers.get('location'), '/login?done=registered');
    for (const next of HOSTILE_TARGETS.slice(0, 8)) {
      const browser = await loggedIn('bob');
      const out = await browser.submit(`/account?next=${encodeURIComponent(next)}`, `/logout?next=${encodeURIComponent(next)}`, { next });
      assert.equal(out.res.headers.get('location'), '/login?done=logged_out', next);
    }
  });

  test('admin: a hostile back field falls back to the user list', async () => {
    const target = await server.portcullis.users.createUser({ username: 'backtarget', password: PASSWORD });
    const root = await loggedIn('root');
    for (const back of [...HOSTILE_TARGETS, '/account', '/admin/../account']) {
      const { res } = await root.submit('/admin/', `/admin/users/${target.id}/revoke-sessions`, { back });
      assert.equal(res.headers.get('location'), '/admin/?done=sessions_ended&n=0', JSON.stringify(back));
      const active = await root.submit('/admin/', `/admin/users/${target.id}/active`, { is_active: 'on', back });
      assert.equal(active.res.headers.get('location'), '/admin/?done=activated', JSON.stringify(back));
    }
    const kept = await root.submit('/admin/', `/admin/users/${target.id}/revoke-sessions`, { back: '/admin/?q=back&done=saved#top' });
    assert.equal(kept.res.headers.get('location'), '/admin/?q=back&done=sessions_ended&n=0', 'its query kept, the old notice and the fragment replaced');
  });
});

describe('password reset pages', () => {
  const NEW = 'a freshly chosen passphrase 77';

  /** The link of the first reset mail to `address` after mail number `since`, as a path on the test server. */
  async function mailedLink(address: string, since: number) {
    const mail = await waitFor(() => smtp.mails.slice(since).find((m) => m.to.includes(address)), `the reset mail to ${address}`);
    const link = resetLinkIn(mail);
    assert.ok(link, 'the mail carries a reset link');
    return { ...link, path: new URL(link.url).pathname };
  }

  test('the login page links to the request form; known and unknown addresses get the same answer', async () => {
    const login = await new Browser(server).get('/login');
    assert.match(login.html, /<a href="\/password-reset">Forgotten your password\?<\/a>/);
    const form = await new Browser(server).get('/password-reset');
    assert.equal(form.res.status, 200);
    assert.ok(labelFor(form.html, 'id_email'));
    assert.ok(csrfFieldOf(form.html));

    const since = smtp.mails.length;
    const known = await new Browser(server).submit('/password-reset', '/password-reset', { email: 'Bob@Example.com' });
    const unknown = await new Browser(server).submit('/password-reset', '/password-reset', { email: 'nobody@example.com' });
    for (const { res } of [known, unknown]) {
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/password-reset/done');
    }
    await mailedLink('bob@example.com', since);
    const done = await new Browser(server).get('/password-reset/done');
    assert.match(done.html, /We’ve emailed you instructions/);
    assert.equal(smtp.mails.slice(since).filter((m) => m.to.includes('nobody@example.com')).length, 0);

    const empty = await new Browser(server).submit('/password-reset', '/password-reset', { email: '' });
    assert.equal(empty.res.status, 400);
    assert.match(errorsOf(empty.html, 'email'), /This field is required\./);
    const bad = await new Browser(server, { 'accept-language': 'zh-CN' }).submit('/password-reset', '/password-reset', { email: 'not an address' });
    assert.match(errorsOf(bad.html, 'email'), /有效的电子邮件/);
    const forged = await new Browser(server).request('POST', '/password-reset', { email: 'bob@example.com' });
    assert.equal(forged.res.status, 403, 'the form carries the CSRF token like the others');
  });

  test('following the mailed link: the form, its errors beside the fields, then the new password; sessions end; the link is spent', async () => {
    await server.portcullis.users.createUser({ username: 'rosa', password: PASSWORD, email: 'rosa@example.com' });
    const elsewhere = await loggedIn('rosa');
    const since = smtp.mails.length;
    await new Browser(server).submit('/password-reset', '/password-reset', { email: 'rosa@example.com' });
    const link = await mailedLink('rosa@example.com', since);

    const browser = new Browser(server);
    const followed = await browser.get(link.path);
    const setPassword = `/reset/${link.uid}/set-password`;
    assert.equal(followed.res.status, 303);
    assert.equal(followed.res.headers.get('location'), setPassword, 'the token leaves the URL');
    assert.equal(followed.res.headers.get('referrer-policy'), 'no-referrer');
    const cookie = followed.res.headers.getSetCookie().find((c) => c.startsWith('password_reset_token='));
    assert.ok(cookie, 'the token is kept in a cookie');
    assert.match(cookie, /HttpOnly/i);
    assert.match(cookie, /SameSite=Lax/i);
    assert.ok(cookie.includes(`Path=/reset/${link.uid}/`), cookie);

    const form = await browser.get(setPassword);
    assert.equal(form.res.status, 200);
    // Not no-referrer: its form would then be sent with `Origin: null`, which the CSRF check refuses.
    assert.match(form.html, /<meta name="referrer" content="same-origin">/);
    assert.ok(labelFor(form.html, 'id_new_password1') && labelFor(form.html, 'id_new_password2'));
    assert.equal(inputOf(form.html, 'username')?.value, 'rosa', 'a username for password managers');
    assert.ok(!form.html.includes(link.token), 'the token is not in the page');

    const mismatch = await browser.submit(setPassword, setPassword, { new_password1: NEW, new_password2: `${NEW}!` });
    assert.equal(mismatch.res.status, 400);
    assert.match(errorsOf(mismatch.html, 'new_password2'), /didn’t match/);
    assert.ok('autofocus' in inputOf(mismatch.html, 'new_password2')!);
    const weak = await browser.submit(setPassword, setPassword, { new_password1: '12345678', new_password2: '12345678' });
    assert.equal(weak.res.status, 400);
    assert.match(errorsOf(weak.html, 'new_password1'), /too common/);
    assert.match(errorsOf(weak.html, 'new_password1'), /entirely numeric/);
    const zh = await browser.submit(setPassword, setPassword, { new_password1: 'short', new_password2: 'short' }, { 'accept-language': 'zh-CN' });
    assert.match(errorsOf(zh.html, 'new_password1'), /密码太短/);
    assert.match(zh.html, /输入新密码/);
    const empty = await browser.submit(setPassword, setPassword, { new_password1: '', new_password2: '' });
    assert.match(errorsOf(empty.html, 'new_password1'), /This field is required\./);

    const done = await browser.submit(setPassword, setPassword, { new_password1: NEW, new_password2: NEW });
    assert.equal(done.res.status, 303);
    assert.equal(done.res.headers.get('location'), '/login?done=password_reset');
    assert.ok(!browser.cookies.has('password_reset_token'), 'the token cookie is cleared');
    assert.match((await browser.get('/login?done=password_reset')).html, /role="status">Your password has been set/);

    assert.equal((await elsewhere.get('/account')).res.status, 303, 'the session elsewhere has ended');
    assert.equal((await new Browser(server).submit('/login', '/login', { username: 'rosa', password: PASSWORD })).res.status, 401, 'the old password no longer works');
    assert.equal((await new Browser(server).submit('/login', '/login', { username: 'rosa', password: NEW })).res.status, 303, 'the new one does');

    const again = await new Browser(server).get(link.path);
    assert.equal(again.res.status, 400, 'the link is spent');
    assert.equal(again.res.headers.get('referrer-policy'), 'no-referrer', 'a page at a token URL does not name it either');
    assert.match(again.html, /Password reset unsuccessful/);
    assert.match(again.html, /<a href="\/password-reset">Request a new password reset<\/a>/);
    assert.equal((await browser.get(setPassword)).res.status, 400);
  });

  test('a wrong, malformed, expired or forged link is the invalid page (400), never a crash', async () => {
    const alice = (await server.portcullis.users.getByUsername('alice'))!;
    const uid = encodeUid(alice.id);
    const stale = server.portcullis.passwordResetTokens.makeToken(alice, Date.now() - (server.portcullis.config.passwordResetTimeout + 5) * 1000);
    const visitor = new Browser(server, { 'x-forwarded-for': '198.51.100.7' });
    for (const path of ['/reset/xx/abc', `/reset/${encodeUid(999999)}/1-2`, '/reset/%21%21/x', '/reset/MQ/zzzzzzzzzzzzzzz-00', `/reset/${uid}/${stale}`, `/reset/${uid}/set-password`]) {
      const { res, html } = await visitor.get(path);
      assert.equal(res.status, 400, path);
      assert.match(html, /Password reset unsuccessful/, path);
      assert.match(html, /href="\/password-reset"/, path);
    }
    const zh = await new Browser(server, { 'x-forwarded-for': '198.51.100.8', 'accept-language': 'zh-CN' }).get('/reset/MQ/1-2');
    assert.match(zh.html, /密码重置失败/);

    const forger = new Browser(server, { 'x-forwarded-for': '198.51.100.9' });
    forger.cookies.set('password_reset_token', stale);
    assert.equal((await forger.get(`/reset/${uid}/set-password`)).res.status, 400);
    const post = await forger.submit('/login', `/reset/${uid}/set-password`, { new_password1: NEW, new_password2: NEW });
    assert.equal(post.res.status, 400);
    assert.ok(!forger.cookies.has('password_reset_token'), 'a dead token cookie is cleared');
    assert.ok(await server.portcullis.users.checkPassword((await server.portcullis.users.getByUsername('alice'))!, PASSWORD), 'the password is unchanged');
  });

  test('wrong links count against the client in the same counter as the API confirm; a right one costs nothing', async () => {
    const guesser = new Browser(server, { 'x-forwarded-for': '198.51.100.20' });
    const statuses: number[] = [];
    while (statuses.at(-1) !== 429 && statuses.length < 50) statuses.push((await guesser.get(`/reset/MQ/${statuses.length}-00`)).res.status);
    assert.equal(statuses.at(-1), 429, 'guessing is throttled');
    assert.ok(statuses.slice(0, -1).every((s) => s === 400));
    const user = await server.portcullis.users.createUser({ username: 'valerie', password: PASSWORD, email: 'valerie@example.com' });
    const uid = encodeUid(user.id);
    const token = server.portcullis.passwordResetTokens.makeToken(user);
    const api = await fetch(`${server.url}/api/auth/password-reset/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.origin, 'x-forwarded-for': '198.51.100.20' },
      body: JSON.stringify({ uid, token, new_password: NEW }),
    });
    assert.equal(api.status, 429, 'the API counts the page’s guesses');
    const honest = new Browser(server, { 'x-forwarded-for': '198.51.100.21' });
    for (let i = 0; i < statuses.length + 2; i++) assert.equal((await honest.get(`/reset/${uid}/${token}`)).res.status, 303, `view ${i} of a right link`);
  });
});

describe('throttling on the login page', () => {
  test('the page login counts failures like the API: past the limit it answers 429', async () => {
    await server.portcullis.users.createUser({ username: 'pagebrute', password: PASSWORD });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await new Browser(server).submit('/login', '/login', { username: 'pagebrute', password: `guess ${i}` })).res.status);
    assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.equal(statuses.at(-1), 429);
  });
});
