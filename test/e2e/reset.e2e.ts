import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Request } from 'playwright-core';
import { API, launchBrowser, screenshot, startApi, type ApiServer } from './harness.js';
import { resetLinkIn, startSmtp, waitFor } from '../smtp.js';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a reset horse battery staple';

/** Contract section 2's password reset through the built-in pages: the mail goes through real SMTP. */
describe('password reset by mail in Chromium', () => {
  let api: ApiServer;
  let browser: Browser;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;

  before(async () => {
    smtp = await startSmtp();
    api = await startApi({ smtpUrl: smtp.url, publicUrl: API, mailFrom: 'accounts@example.test' });
    await api.portcullis.users.createUser({ username: 'nora', email: 'nora@example.com', password: PASSWORD });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await api?.close();
    await smtp?.close();
  });

  test('ask for a link from the login page, follow it from the mail, set a new password, log in with it', async () => {
    const elsewhere = await browser.newContext();
    const other = await elsewhere.newPage();
    await other.goto(`${API}/login`);
    await other.fill('input[name=username]', 'nora');
    await other.fill('input[name=password]', PASSWORD);
    await Promise.all([other.waitForURL(`${API}/account`), other.click('form[action="/login"] button[type=submit]')]);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${API}/login`);
    await Promise.all([page.waitForURL(`${API}/password-reset`), page.click('a[href="/password-reset"]')]);
    await page.fill('input[name=email]', 'nora@example.com');
    await Promise.all([page.waitForURL(`${API}/password-reset/done`), page.click('form[action="/password-reset"] button[type=submit]')]);
    await screenshot(page, 'pages-reset-sent');

    const mail = await waitFor(() => smtp.mails.find((m) => m.to.includes('nora@example.com')), 'the reset mail');
    const link = resetLinkIn(mail);
    assert.ok(link, 'the mail carries a reset link');
    assert.ok(link.url.startsWith(`${API}/reset/`), link.url);

    // What the page asks for once it is open must not name the token to anyone.
    const referers: string[] = [];
    const watch = async (request: Request) => {
      const referer = (await request.allHeaders()).referer;
      if (referer) referers.push(referer);
    };
    page.on('request', (request) => void watch(request));
    await page.goto(link.url);
    assert.equal(page.url(), `${API}/reset/${link.uid}/set-password`, 'the token is traded for a URL without it');
    await page.waitForLoadState('load');
    assert.ok(!referers.some((r) => r.includes(link.token)), `no Referer carries the token: ${referers.join(', ')}`);
    const cookie = (await context.cookies(`${API}/reset/${link.uid}/set-password`)).find((c) => c.name === 'password_reset_token');
    assert.ok(cookie?.httpOnly, 'the token waits in an HttpOnly cookie');
    await screenshot(page, 'pages-reset-form');

    await page.fill('input[name=new_password1]', NEW_PASSWORD);
    await page.fill('input[name=new_password2]', 'something else entirely');
    await Promise.all([page.waitForLoadState('load'), page.click('form[action$="/set-password"] button[type=submit]')]);
    assert.match((await page.textContent('#id_new_password2_error')) ?? '', /didn’t match/);
    await screenshot(page, 'pages-reset-mismatch');

    await page.fill('input[name=new_password1]', NEW_PASSWORD);
    await page.fill('input[name=new_password2]', NEW_PASSWORD);
    await Promise.all([page.waitForURL(`${API}/login?done=password_reset`), page.click('form[action$="/set-password"] button[type=submit]')]);
    assert.match((await page.textContent('.notice')) ?? '', /Your password has been set/);
    assert.equal((await context.cookies(`${API}/reset/${link.uid}/set-password`)).find((c) => c.name === 'password_reset_token'), undefined);

    await page.fill('input[name=username]', 'nora');
    await page.fill('input[name=password]', NEW_PASSWORD);
    await Promise.all([page.waitForURL(`${API}/account`), page.click('form[action="/login"] button[type=submit]')]);

    await other.goto(`${API}/account`);
    assert.equal(new URL(other.url()).pathname, '/login', 'the session elsewhere has ended');

    await page.goto(link.url);
    assert.match((await page.textContent('main')) ?? '', /Password reset unsuccessful/);
    await screenshot(page, 'pages-reset-spent');
    await context.close();
    await elsewhere.close();
  });
});
