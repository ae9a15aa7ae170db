import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { API, launchBrowser, launchPersistent, screenshot, startApi, type ApiServer } from './harness.js';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a different horse battery staple';

async function login(page: Page, username: string, password: string, remember: boolean): Promise<void> {
  await page.goto(`${API}/login`);
  await page.fill('form[action="/login"] input[name=username]', username);
  await page.fill('form[action="/login"] input[name=password]', password);
  if (remember) await page.check('input[name=remember]');
  else await page.uncheck('input[name=remember]');
  await Promise.all([page.waitForURL(`${API}/account`), page.click('form[action="/login"] button[type=submit]')]);
}

/** Whether the browser is logged in: /account shows the account, or sends it to the login form. */
async function onAccount(page: Page): Promise<boolean> {
  await page.goto(`${API}/account`);
  return new URL(page.url()).pathname === '/account';
}

async function sessionCookie(context: BrowserContext) {
  return (await context.cookies(API)).find((c) => c.name === 'sessionid');
}

/** Contract sections 2, 4 and 5 through the built-in pages, in a real browser. */
describe('the built-in pages in Chromium', () => {
  let api: ApiServer;
  let browser: Browser;
  let profile: string;

  before(async () => {
    api = await startApi();
    await api.portcullis.users.createSuperuser({ username: 'root', email: 'root@example.com', password: PASSWORD });
    browser = await launchBrowser();
    profile = mkdtempSync(join(tmpdir(), 'portcullis-e2e-profile-'));
  });
  after(async () => {
    await browser?.close();
    await api?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  test('register, then log in with remember-me off and on across browser restarts', async () => {
    let context = await launchPersistent(profile);
    let page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${API}/register`);
    await screenshot(page, 'pages-register');
    await page.fill('input[name=username]', 'ben');
    await page.fill('input[name=email]', 'ben@example.com');
    await page.fill('input[name=password1]', PASSWORD);
    await page.fill('input[name=password2]', PASSWORD);
    await Promise.all([page.waitForURL(/\/login\?done=registered$/), page.click('form[action="/register"] button[type=submit]')]);
    assert.ok(await api.portcullis.users.getByLogin('ben'), 'the account exists');
    await screenshot(page, 'pages-login');

    // Remember me off: a browser-session cookie, gone after a restart.
    await login(page, 'ben', PASSWORD, false);
    const transient = await sessionCookie(context);
    assert.ok(transient);
    assert.equal(transient.expires, -1, 'no Max-Age/Expires');
    await context.close();
    context = await launchPersistent(profile);
    page = context.pages()[0] ?? (await context.newPage());
    assert.equal(await sessionCookie(context), undefined, 'the browser-session cookie did not survive the restart');
    assert.equal(await onAccount(page), false);

    // Remember me on: a persistent cookie, still there and still working after a restart.
    await login(page, 'ben', PASSWORD, true);
    const kept = await sessionCookie(context);
    assert.ok(kept && kept.expires > Date.now() / 1000 + 13 * 24 * 3600, 'a cookie of about two weeks');
    await context.close();
    context = await launchPersistent(profile);
    page = context.pages()[0] ?? (await context.newPage());
    assert.ok(await sessionCookie(context), 'the persistent cookie survived the restart');
    assert.equal(await onAccount(page), true);
    assert.match((await page.textContent('main')) ?? (await page.textContent('body')) ?? '', /ben/);
    await screenshot(page, 'pages-account');
    await context.close();
  });

  test('see and revoke another session, change the password, log out', async () => {
    // The account page names devices by their user agent ("Chrome on Android").
    const laptop = await browser.newContext({ userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0' });
    const phone = await browser.newContext({ userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36' });
    const lp = await laptop.newPage();
    const pp = await phone.newPage();
    await login(lp, 'ben', PASSWORD, true);
    await login(pp, 'ben', PASSWORD, true);

    // The laptop sees the phone's session (and the restarted browser's from the previous test) and ends the phone's.
    await lp.goto(`${API}/account`);
    const revokeForms = lp.locator('form[action^="/account/sessions/"][action$="/revoke"]');
    assert.ok((await revokeForms.count()) >= 1);
    const phoneRow = lp.locator('tr', { hasText: 'Chrome on Android' });
    assert.equal(await phoneRow.count(), 1, 'the phone is listed');
    await screenshot(lp, 'pages-account-sessions');
    await Promise.all([lp.waitForURL(/\/account\?done=revoked/), phoneRow.locator('button[type=submit]').click()]);
    assert.equal(await onAccount(pp), false, 'the phone is logged out');
    assert.equal(await lp.locator('tr', { hasText: 'Chrome on Android' }).count(), 0);

    // Change the password: this session goes on, under a new key.
    const before = (await sessionCookie(laptop))?.value;
    await lp.goto(`${API}/account`);
    await lp.fill('input[name=old_password]', PASSWORD);
    await lp.fill('input[name=new_password1]', NEW_PASSWORD);
    await lp.fill('input[name=new_password2]', NEW_PASSWORD);
    await Promise.all([lp.waitForURL(/\/account\?done=password/), lp.click('form[action="/account/password"] button[type=submit]')]);
    await screenshot(lp, 'pages-account-password-changed');
    const afterKey = (await sessionCookie(laptop))?.value;
    assert.ok(afterKey && afterKey !== before, 'a new session key');
    assert.equal(await onAccount(lp), true);

    // Log out from the page header; the account page is closed again.
    await Promise.all([lp.waitForURL(/\/login\?done=logged_out/), lp.click('form[action="/logout"] button[type=submit]')]);
    assert.equal(await sessionCookie(laptop), undefined);
    assert.equal(await onAccount(lp), false);
    await laptop.close();
    await phone.close();
  });

  test('the admin deactivates a user whose open session then stops working', async () => {
    const user = await browser.newContext();
    const admin = await browser.newContext();
    const up = await user.newPage();
    const ap = await admin.newPage();
    await login(up, 'ben', NEW_PASSWORD, true);
    assert.equal(await onAccount(up), true);

    await login(ap, 'root', PASSWORD, true);
    await ap.goto(`${API}/admin/`);
    await screenshot(ap, 'pages-admin');
    const ben = await api.portcullis.users.getByLogin('ben');
    assert.ok(ben);
    await ap.goto(`${API}/admin/users/${ben.id}`);
    await screenshot(ap, 'pages-admin-user');
    await ap.goto(`${API}/admin/`);
    await Promise.all([ap.waitForLoadState('load'), ap.click(`form[action="/admin/users/${ben.id}/active"] button[type=submit]`)]);
    await ap.waitForURL(/\/admin\//);
    assert.equal((await api.portcullis.users.getByLogin('ben'))?.is_active, false);
    await screenshot(ap, 'pages-admin-after-deactivate');

    // Ben's open session is over: the page sends him to the login form, and the API says 401.
    assert.equal(await onAccount(up), false);
    const me = await up.evaluate(async () => (await fetch('/api/auth/me', { credentials: 'include' })).status);
    assert.equal(me, 401);
    await user.close();
    await admin.close();
  });
});
