import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, json, PASSWORD, startServer, type ErrorBody, type TestServer } from './helpers.js';
import { PasswordResetTokenGenerator, decodeUid, encodeUid } from '../src/auth/password-reset.js';
import { bodyText, resetLinkIn, startSmtp, waitFor, type Received } from './smtp.js';

let server: TestServer;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
const PUBLIC = 'https://accounts.example.test';

before(async () => {
  smtp = await startSmtp();
  server = await startServer({ smtpUrl: smtp.url, publicUrl: PUBLIC, mailFrom: 'accounts@example.test' });
  for (const [username, email] of [
    ['rita', 'rita@example.com'],
    ['sam', 'sam@example.com'],
    ['tess', 'tess@example.com'],
  ]) {
    const res = await new Client(server.url).post('/api/auth/register', { username, email, password: PASSWORD });
    assert.equal(res.status, 201);
  }
});
after(async () => {
  await server.close();
  await smtp.close();
});

function mailTo(address: string): Received | undefined {
  return smtp.mails.find((m) => m.to.includes(address));
}

function linkIn(mail: Received): { url: string; uid: string; token: string } {
  const link = resetLinkIn(mail);
  assert.ok(link, 'the mail carries a reset link');
  return link;
}

describe('password reset over real SMTP', () => {
  test('request → mail → follow the link → new password; sessions end; the link is single-use', async () => {
    const browser = new Client(server.url);
    assert.equal((await browser.post('/api/auth/login', { username: 'rita', password: PASSWORD })).status, 200);

    const res = await new Client(server.url).post('/api/auth/password-reset', { email: 'RITA@example.com' });
    assert.equal(res.status, 202);
    const mail = await waitFor(() => mailTo('rita@example.com'), 'the reset mail');
    assert.match(mail.raw, /From: accounts@example\.test/);
    assert.match(mail.raw, /Subject: Password reset on accounts\.example\.test/);
    const link = linkIn(mail);
    assert.ok(link.url.startsWith(`${PUBLIC}/reset/`), link.url);
    assert.equal(decodeUid(link.uid), (await server.portcullis.users.getByUsername('rita'))!.id);
    assert.match(bodyText(mail.raw), /Your username, in case you've forgotten: rita/);

    const weak = await new Client(server.url).post('/api/auth/password-reset/confirm', { uid: link.uid, token: link.token, new_password: 'rita' });
    assert.equal(weak.status, 400, 'the validators run on reset');
    assert.ok((await json<ErrorBody>(weak)).error.fields?.new_password);

    const NEW = 'a brand new passphrase 42';
    const ok = await new Client(server.url).post('/api/auth/password-reset/confirm', { uid: link.uid, token: link.token, new_password: NEW });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal((await json<{ user: { username: string } }>(ok)).user.username, 'rita');

    assert.equal((await browser.get('/api/auth/me')).status, 401, 'every session of the user ended');
    assert.equal((await new Client(server.url).post('/api/auth/login', { username: 'rita', password: PASSWORD })).status, 401);
    assert.equal((await new Client(server.url).post('/api/auth/login', { username: 'rita', password: NEW })).status, 200);

    const again = await new Client(server.url).post('/api/auth/password-reset/confirm', { uid: link.uid, token: link.token, new_password: 'yet another passphrase 7' });
    assert.equal(again.status, 400, 'single use');
    const err = await json<ErrorBody>(again);
    assert.equal(err.error.code, 'validation_error');
    assert.ok(err.error.fields?.token);
  });

  test('an unknown address gets the same 202 and no mail; an inactive account gets no mail', async () => {
    const sam = await server.portcullis.users.getByUsername('sam');
    await server.portcullis.deactivate(sam!);
    const before = smtp.mails.length;
    const unknown = await new Client(server.url).post('/api/auth/password-reset', { email: 'nobody@example.com' });
    const inactive = await new Client(server.url).post('/api/auth/password-reset', { email: 'sam@example.com' });
    const known = await new Client(server.url).post('/api/auth/password-reset', { email: 'tess@example.com' });
    assert.deepEqual([unknown.status, inactive.status, known.status], [202, 202, 202]);
    const bodies = await Promise.all([unknown.text(), inactive.text(), known.text()]);
    assert.equal(new Set(bodies).size, 1, 'the three answers are byte-identical');
    await waitFor(() => mailTo('tess@example.com'), 'the mail to tess');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(smtp.mails.length, before + 1, 'only the active, known account got a mail');
  });

  test('a token dies when the user logs in, and when it expires', async () => {
    const { portcullis } = server;
    const tess = (await portcullis.users.getByUsername('tess'))!;
    const uid = encodeUid(tess.id);
    const stale = portcullis.passwordResetTokens.makeToken(tess, Date.now() - (portcullis.config.passwordResetTimeout + 5) * 1000);
    const expired = await new Client(server.url).post('/api/auth/password-reset/confirm', { uid, token: stale, new_password: 'fresh passphrase 9000' });
    assert.equal(expired.status, 400, 'expired');

    const token = portcullis.passwordResetTokens.makeToken(tess);
    assert.equal(portcullis.passwordResetTokens.checkToken(tess, token), true);
    assert.equal((await new Client(server.url).post('/api/auth/login', { username: 'tess', password: PASSWORD })).status, 200);
    const afterLogin = await new Client(server.url).post('/api/auth/password-reset/confirm', { uid, token, new_password: 'fresh passphrase 9000' });
    assert.equal(afterLogin.status, 400, 'a login changes last_login, which the token covers');
  });

  test('malformed uids and tokens are a 400, never a 500', async () => {
    for (const body of [
      { uid: 'xx', token: 'abc', new_password: 'p' },
      { uid: encodeUid(999999), token: '1-2', new_password: 'some passphrase 1' },
      { uid: encodeUid('0'), token: 'zzzzzzzzzzzzzzz-00', new_password: 'some passphrase 1' },
      { uid: '!!', token: '', new_password: 'some passphrase 1' },
    ]) {
      const res = await new Client(server.url).post('/api/auth/password-reset/confirm', body);
      assert.equal(res.status, 400, JSON.stringify(body));
    }
  });
});

describe("Django's PasswordResetTokenGenerator", () => {
  const user = { id: 42, password: 'pbkdf2_sha256$870000$salt$hash=', last_login: new Date(Date.UTC(2024, 4, 1, 13, 45, 9, 123)), email: 'alice@example.com' };
  const now = Date.UTC(2024, 4, 2, 8, 0, 0);
  const generator = new PasswordResetTokenGenerator('django-insecure-test-secret', 259200);

  test('makes the token Django makes for the same user, secret and time', () => {
    // Computed by Django's algorithm (tokens.py) in Python for these inputs.
    assert.equal(generator.makeToken(user, now), 'c6e3k0-aa0c044a00b4fbd7db3ae16ebb0930f8');
  });

  test('checks timeouts, bindings and shapes as Django does', () => {
    const token = generator.makeToken(user, now);
    assert.equal(generator.checkToken(user, token, now + 259200 * 1000), true, 'valid up to the timeout');
    assert.equal(generator.checkToken(user, token, now + 259201 * 1000), false, 'expired one second after');
    assert.equal(generator.checkToken({ ...user, password: 'other' }, token, now), false, 'password changed');
    assert.equal(generator.checkToken({ ...user, last_login: new Date(user.last_login.getTime() + 1000) }, token, now), false, 'logged in since');
    assert.equal(generator.checkToken({ ...user, last_login: new Date(user.last_login.getTime() + 500) }, token, now), true, 'microseconds are ignored');
    assert.equal(generator.checkToken({ ...user, email: 'new@example.com' }, token, now), false, 'email changed');
    assert.equal(new PasswordResetTokenGenerator('another secret', 259200).checkToken(user, token, now), false, 'another secret');
    for (const bad of ['', 'nodash', 'a-b-c', '-abc', 'zzzzzzzzzzzzzz-abc', `${token}x`]) assert.equal(generator.checkToken(user, bad, now), false, bad);
  });

  test('uids are urlsafe base64 of the primary key, without padding', () => {
    assert.equal(encodeUid(42), 'NDI');
    assert.equal(encodeUid(1), 'MQ');
    assert.equal(decodeUid('NDI'), 42);
    for (const bad of ['', 'MA', 'LTE', '!!', 'a'.repeat(40)]) assert.equal(decodeUid(bad), null, bad);
  });
});
