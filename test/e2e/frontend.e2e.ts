import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { diagnoseOrigin, formatFindings } from '../../src/doctor.js';
import { API, RESULTS, launchBrowser, screenshot, startApi, startFrontend, type ApiServer } from './harness.js';

const PASSWORD = 'correct horse battery staple';

async function loginThroughPage(page: Page, username: string): Promise<void> {
  await page.fill('#login [name=username]', username);
  await page.fill('#login [name=password]', PASSWORD);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('body[data-login]');
}

async function settledState(page: Page): Promise<string> {
  await page.waitForSelector('body[data-state]');
  return (await page.getAttribute('body', 'data-state')) ?? '';
}

/**
 * Contract sections 5 and 6 in a real browser: a static frontend on another port logs in with
 * fetch(..., {credentials: "include"}), and the classic localhost-versus-127.0.0.1 mistake is shown
 * happening, explained by the cookie doctor, and fixed as the doctor says.
 */
describe('a static frontend on :5173 against portcullis on localhost:8000', () => {
  let api: ApiServer;
  let frontend: { close(): Promise<void> };
  let browser: Browser;

  before(async () => {
    // The developer has trusted both spellings of the frontend's origin; the cookie is SameSite=Lax.
    api = await startApi({ trustedOrigins: ['http://localhost:5173', 'http://127.0.0.1:5173'] });
    await api.portcullis.users.createUser({ username: 'ada', password: PASSWORD });
    frontend = await startFrontend();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await frontend?.close();
    await api?.close();
  });

  test('http://localhost:5173: log in, reload, still logged in; log out, reload, logged out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto('http://localhost:5173/');
    assert.equal(await settledState(page), 'out');
    await screenshot(page, 'frontend-localhost-1-logged-out');

    await loginThroughPage(page, 'ada');
    assert.equal(await page.getAttribute('body', 'data-login'), 'ok');
    assert.equal(await page.textContent('#warning'), '', 'a same-site login draws no warning');
    const cookies = await context.cookies(API);
    const session = cookies.find((c) => c.name === 'sessionid');
    assert.ok(session, 'the browser kept the session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');

    await page.reload();
    assert.equal(await settledState(page), 'in');
    assert.equal(await page.textContent('#status'), 'Logged in as ada');
    await screenshot(page, 'frontend-localhost-2-logged-in-after-reload');

    await page.click('#logout');
    await page.waitForSelector('body[data-state=out]');
    await page.reload();
    assert.equal(await settledState(page), 'out');
    assert.equal(await page.textContent('#status'), 'Logged out');
    assert.equal((await context.cookies(API)).some((c) => c.name === 'sessionid'), false, 'logout cleared the cookie');
    await screenshot(page, 'frontend-localhost-3-logged-out-after-reload');
    await context.close();
  });

  test('http://127.0.0.1:5173: the login "works", the cookie is dropped, the doctor explains, its fix works', async () => {
    const report: Record<string, unknown> = { page: 'http://127.0.0.1:5173', api: API };
    const context = await browser.newContext();
    const page = await context.newPage();
    const consoleWarnings: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'warning') consoleWarnings.push(m.text());
    });
    const loginResponse = page.waitForResponse((r) => r.url() === `${API}/api/auth/login`);
    await page.goto('http://127.0.0.1:5173/');
    assert.equal(await settledState(page), 'out');
    await loginThroughPage(page, 'ada');
    const res = await loginResponse;

    // What the browser did: the server said 200 and sent Set-Cookie, and the browser threw it away,
    // because a SameSite=Lax cookie from a cross-site response (127.0.0.1 is not localhost) is blocked.
    report.loginStatus = res.status();
    report.setCookieSent = ((await res.allHeaders())['set-cookie'] ?? '').replace(/sessionid=[^;]+/, 'sessionid=…');
    report.cookiesKeptForApi = (await context.cookies(API)).map((c) => c.name);
    assert.equal(res.status(), 200);
    assert.equal(await page.getAttribute('body', 'data-login'), 'ok');
    assert.match(String(report.setCookieSent), /sessionid=.*SameSite=Lax/i);
    assert.equal((report.cookiesKeptForApi as string[]).includes('sessionid'), false, 'Chromium dropped the SameSite=Lax cookie');

    // The doctor's explanation, as the page shows it (Portcullis-Warning header) and on the console.
    const warning = (await page.textContent('#warning')) ?? '';
    report.portcullisWarning = warning;
    assert.match(warning, /localhost is not 127\.0\.0\.1/);
    assert.match(warning, /Fix: Use the same host name on both sides: open the frontend as http:\/\/localhost:5173/);
    assert.ok(consoleWarnings.some((w) => /localhost is not 127\.0\.0\.1/.test(w)));
    await screenshot(page, 'frontend-127-1-login-answered-with-warning');

    await page.reload();
    assert.equal(await settledState(page), 'out', 'after a reload the user is logged out again');
    await screenshot(page, 'frontend-127-2-logged-out-after-reload');
    report.afterReload = await page.textContent('#status');

    // The same words from `portcullis check --origin http://127.0.0.1:5173`.
    const findings = diagnoseOrigin(api.portcullis.config, 'http://127.0.0.1:5173', API);
    report.doctor = formatFindings(findings);
    assert.ok(findings.some((f) => f.level === 'error' && /localhost is not 127\.0\.0\.1/.test(f.message)));

    // The documented fix: open the frontend under the API's host name.
    await page.goto('http://localhost:5173/');
    assert.equal(await settledState(page), 'out');
    await loginThroughPage(page, 'ada');
    assert.equal(await page.textContent('#warning'), '');
    await page.reload();
    assert.equal(await settledState(page), 'in');
    assert.equal(await page.textContent('#status'), 'Logged in as ada');
    report.afterFix = await page.textContent('#status');
    assert.equal(formatFindings(diagnoseOrigin(api.portcullis.config, 'http://localhost:5173', API)).startsWith('OK:'), true);
    await screenshot(page, 'frontend-127-3-fixed-on-localhost');

    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'cross-site-127.0.0.1.json'), JSON.stringify(report, null, 2) + '\n');
    await context.close();
  });
});
