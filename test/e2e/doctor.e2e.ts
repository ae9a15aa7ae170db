import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { diagnoseOrigin, type Finding } from '../../src/doctor.js';
import { resolveConfig } from '../../src/config.js';
import { sessionCookie } from '../../src/request/cookies.js';
import { API_PORT, FRONTEND_PORT, RESULTS, launchBrowser, launchPersistent, startApi, startFrontend, type ApiServer } from './harness.js';

/**
 * Every claim the cookie doctor (src/doctor.ts: `portcullis check --origin`, the Portcullis-Warning
 * header, the refused-preflight log line) makes about a frontend origin, set up for real and checked
 * against what Chromium does when a page on that origin logs in with fetch(…, {credentials:
 * "include"}) and then asks /me; then the one change the doctor names, and Chromium again.
 *
 * Host names other than localhost (app.one.test, api.example.test, …) reach this machine through
 * Chromium's --host-resolver-rules; nothing leaves the loopback. Chromium's own reason for dropping a
 * cookie is read from the DevTools protocol (blockedReasons). The localhost-versus-127.0.0.1 case is
 * in frontend.e2e.ts.
 *
 * Chromium 156 blocks third-party cookies in its default settings (its reason: UserPreferences), so
 * every cross-site cookie is dropped there whatever its SameSite; a second browser, whose profile
 * allows third-party cookies (as Chrome's default does), shows the SameSite rules themselves.
 */

const PASSWORD = 'correct horse battery staple';
const API = `http://localhost:${API_PORT}`;
const RESOLVE_TEST_NAMES = `--host-resolver-rules=MAP *.test 127.0.0.1`;

interface Attempt {
  /** The login's status as the page saw it, or "blocked" when fetch rejected (CORS). */
  login: number | 'blocked';
  /** The Portcullis-Warning header, as the page's script reads it. */
  warning: string | null;
  me: number | 'blocked';
  /** Whether the browser stored the session cookie for the API. */
  kept: boolean;
  /** Chromium's reasons for refusing the session cookie (DevTools protocol). */
  refused: string[];
}

/**
 * The page's script, as a string: tsx would wrap a function's inner helpers in its own `__name`,
 * which does not exist in the page.
 */
const FRONTEND_CALLS = `async ({ apiOrigin, username, password }) => {
  const call = async (path, init) => {
    try {
      const res = await fetch(apiOrigin + path, { credentials: 'include', ...init });
      return { status: res.status, warning: res.headers.get('portcullis-warning') };
    } catch {
      return { status: 'blocked', warning: null };
    }
  };
  const login = await call('/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  const me = await call('/api/auth/me', {});
  return { login: login.status, warning: login.warning, me: me.status };
}`;

/** What a frontend does: load its page, log in with credentials included, then ask who is logged in. */
async function frontendLogsIn(context: BrowserContext, pageOrigin: string, apiOrigin: string, username: string): Promise<Attempt> {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  const refused: string[] = [];
  cdp.on('Network.responseReceivedExtraInfo', (event) => {
    for (const blocked of event.blockedCookies) {
      if ((blocked.cookie?.name ?? blocked.cookieLine.split('=')[0]) === 'sessionid') refused.push(...blocked.blockedReasons);
    }
  });
  await cdp.send('Network.enable');
  await page.goto(`${pageOrigin}/?api=${encodeURIComponent(apiOrigin)}`);
  const seen = (await page.evaluate(`(${FRONTEND_CALLS})(${JSON.stringify({ apiOrigin, username, password: PASSWORD })})`)) as Omit<Attempt, 'kept' | 'refused'>;
  const kept = (await context.cookies(apiOrigin)).some((c) => c.name === 'sessionid');
  await page.close();
  return { ...seen, kept, refused: [...new Set(refused)] };
}

const errorsOf = (findings: Finding[]) => findings.filter((f) => f.level === 'error');

/** The doctor's findings for this page against this API, under the API's own configuration. */
function doctor(api: ApiServer, pageOrigin: string, apiOrigin: string): Finding[] {
  return diagnoseOrigin(api.portcullis.config, pageOrigin, apiOrigin);
}

describe('the cookie doctor’s claims, as Chromium acts on them', () => {
  let frontend: { close(): Promise<void> };
  let browser: Browser;
  /** Chromium whose profile allows third-party cookies. */
  let allowing: BrowserContext;
  let profile: string;
  let api: ApiServer | undefined;
  let logLines: { msg: string; event?: string }[] = [];
  let n = 0;
  const report: Record<string, unknown> = {};

  /** portcullis on localhost:8000 with these environment variables (the doctor's fixes are written as such), and a user to log in. */
  async function stop(): Promise<void> {
    const running = api;
    api = undefined;
    await running?.close();
  }
  async function serve(env: Record<string, string>): Promise<{ api: ApiServer; username: string }> {
    await stop();
    logLines = [];
    const stream = { write: (line: string) => void logLines.push(JSON.parse(line) as { msg: string; event?: string }) };
    api = await startApi({ env }, { logger: { level: 'warn', stream } });
    const username = `user${++n}`;
    await api.portcullis.users.createUser({ username, password: PASSWORD });
    return { api, username };
  }

  before(async () => {
    frontend = await startFrontend();
    browser = await launchBrowser([RESOLVE_TEST_NAMES]);
    profile = mkdtempSync(join(tmpdir(), 'portcullis-e2e-3p-'));
    mkdirSync(join(profile, 'Default'));
    writeFileSync(join(profile, 'Default', 'Preferences'), JSON.stringify({ profile: { cookie_controls_mode: 0 } }));
    allowing = await launchPersistent(profile, [RESOLVE_TEST_NAMES]);
  });
  after(async () => {
    await allowing?.close();
    await browser?.close();
    await frontend?.close();
    await stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'doctor-claims.json'), JSON.stringify(report, null, 2) + '\n');
  });

  test('an untrusted origin: the preflight is refused, the server logs the fix once, and the fix lets the login through', async () => {
    const page = `http://localhost:${FRONTEND_PORT}`;
    let { api, username } = await serve({});
    const [finding, ...others] = errorsOf(doctor(api, page, API));
    assert.deepEqual(others, []);
    assert.match(finding!.message, /is not in PORTCULLIS_TRUSTED_ORIGINS, so the browser refuses to hand the API's answers to the page/);
    assert.equal(finding!.fix, `Set PORTCULLIS_TRUSTED_ORIGINS=${page}.`);

    // Twice, as a user who clicks again would: the browser sends no login, the server names the fix once.
    const context = await browser.newContext();
    for (let i = 0; i < 2; i++) {
      const seen = await frontendLogsIn(context, page, API, username);
      assert.equal(seen.login, 'blocked', 'Chromium did not hand the answer to the page');
      assert.equal(seen.kept, false);
    }
    await context.close();
    // The login itself never left the browser, so its 403 csrf_failed (the doctor's other half) is for
    // clients without a preflight; doors.test.ts › the origin rule shows it.
    assert.equal(logLines.some((l) => l.msg.startsWith('login from')), false, JSON.stringify(logLines));
    const refusals = logLines.filter((l) => l.event === 'cors_refused');
    assert.equal(refusals.length, 1, JSON.stringify(logLines));
    const line = refusals[0]!.msg;
    report.refusedPreflightLog = line;
    assert.match(line, new RegExp(`^A browser page at ${page} was refused: its CORS preflight came from an origin that is not trusted`));
    // The log line and the doctor name the same one change.
    const fix = /(PORTCULLIS_TRUSTED_ORIGINS)=(\S+)$/.exec(line);
    assert.ok(fix, line);
    assert.equal(`Set ${fix[0]}.`, finding!.fix);

    ({ api, username } = await serve({ [fix[1]!]: fix[2]! }));
    assert.equal(errorsOf(doctor(api, page, API)).length, 0);
    const fixed = await browser.newContext();
    assert.deepEqual(await frontendLogsIn(fixed, page, API, username), { login: 200, warning: null, me: 200, kept: true, refused: [] });
    await fixed.close();
  });

  test('different sites: the SameSite=Lax cookie is dropped as the doctor says; one site, as it says, works', async () => {
    const page = `http://app.one.test:${FRONTEND_PORT}`;
    const apiOrigin = `http://api.two.test:${API_PORT}`;
    let { api, username } = await serve({ PORTCULLIS_TRUSTED_ORIGINS: page });
    const [finding, ...others] = errorsOf(doctor(api, page, apiOrigin));
    assert.deepEqual(others, []);
    assert.match(finding!.message, /are different sites, so the SameSite=Lax session cookie is not sent with the page's requests and the user appears logged out/);
    assert.match(finding!.fix!, /^Serve the frontend and the API under one site/);

    // Chromium as installed: the answer reaches the page with the doctor's words, the cookie does not stay.
    const context = await browser.newContext();
    const seen = await frontendLogsIn(context, page, apiOrigin, username);
    await context.close();
    assert.equal(seen.login, 200);
    assert.ok(seen.warning?.includes(finding!.message), `the Portcullis-Warning header carries the doctor's words: ${seen.warning}`);
    assert.equal(seen.kept, false);
    assert.equal(seen.me, 401, 'the user appears logged out');
    assert.deepEqual(seen.refused, ['UserPreferences'], 'Chromium blocks it first as a third-party cookie');
    // A browser that allows third-party cookies drops it for the very reason the doctor gives.
    const because = await frontendLogsIn(allowing, page, apiOrigin, username);
    assert.equal(because.me, 401);
    assert.deepEqual(because.refused, ['SchemefulSameSiteLax']);
    report.differentSites = { doctor: finding, chromium: seen, allowingThirdPartyCookies: because };

    // The fix: one site (app.example.test and api.example.test), the frontend's origin trusted.
    const onePage = `http://app.example.test:${FRONTEND_PORT}`;
    const oneApi = `http://api.example.test:${API_PORT}`;
    ({ api, username } = await serve({ PORTCULLIS_TRUSTED_ORIGINS: onePage }));
    assert.deepEqual(doctor(api, onePage, oneApi).map((f) => f.level), ['ok']);
    const fixed = await browser.newContext();
    assert.deepEqual(await frontendLogsIn(fixed, onePage, oneApi, username), { login: 200, warning: null, me: 200, kept: true, refused: [] });
    await fixed.close();
  });

  test('a Secure cookie over plain HTTP is not stored, except on localhost as the doctor says; unsetting it works', async () => {
    const page = `http://app.example.test:${FRONTEND_PORT}`;
    const apiOrigin = `http://api.example.test:${API_PORT}`;
    const local = `http://localhost:${FRONTEND_PORT}`;
    let { api, username } = await serve({ PORTCULLIS_SECURE_COOKIES: '1', PORTCULLIS_TRUSTED_ORIGINS: `${page},${local}` });
    const [finding, ...others] = errorsOf(doctor(api, page, apiOrigin));
    assert.deepEqual(others, []);
    assert.match(finding!.message, /^The session cookie is Secure but the API is served over plain HTTP at http:\/\/api\.example\.test:8000, so the browser will not store it\./);
    assert.match(finding!.fix!, /unset PORTCULLIS_SECURE_COOKIES for local development/);

    const context = await browser.newContext();
    const seen = await frontendLogsIn(context, page, apiOrigin, username);
    assert.equal(seen.login, 200);
    assert.ok(seen.warning?.includes(finding!.message), String(seen.warning));
    assert.equal(seen.kept, false);
    assert.equal(seen.me, 401);
    assert.deepEqual(seen.refused, ['SecureOnly']);
    report.secureOverHttp = { doctor: finding, chromium: seen };

    // The same Secure cookie from http://localhost: the doctor raises nothing, and Chromium keeps it.
    assert.equal(errorsOf(doctor(api, local, API)).length, 0);
    assert.deepEqual(await frontendLogsIn(context, local, API, username), { login: 200, warning: null, me: 200, kept: true, refused: [] });
    await context.close();

    ({ api, username } = await serve({ PORTCULLIS_TRUSTED_ORIGINS: page }));
    assert.deepEqual(doctor(api, page, apiOrigin).map((f) => f.level), ['ok']);
    const fixed = await browser.newContext();
    assert.deepEqual(await frontendLogsIn(fixed, page, apiOrigin, username), { login: 200, warning: null, me: 200, kept: true, refused: [] });
    await fixed.close();
  });

  test('SameSite=None and Secure, cross-site: kept only where third-party cookies are allowed, as the doctor warns; one site works everywhere', async () => {
    const page = `http://127.0.0.1:${FRONTEND_PORT}`;
    const local = `http://localhost:${FRONTEND_PORT}`;
    const { api, username } = await serve({ PORTCULLIS_SECURE_COOKIES: '1', PORTCULLIS_SAMESITE: 'None', PORTCULLIS_TRUSTED_ORIGINS: `${page},${local}` });
    const findings = doctor(api, page, API);
    assert.deepEqual(findings.map((f) => f.level), ['warning']);
    assert.match(findings[0]!.message, /is a third-party cookie there: browsers that allow third-party cookies keep and send it, those that block them \(Safari and Chromium by default\) drop it/);
    assert.equal(findings[0]!.fix, 'Prefer serving the frontend and the API under one site.');

    const context = await browser.newContext();
    const blocking = await frontendLogsIn(context, page, API, username);
    assert.equal(blocking.login, 200);
    assert.equal(blocking.warning, null, 'a warning, not an error: no Portcullis-Warning header');
    assert.equal(blocking.kept, false);
    assert.equal(blocking.me, 401);
    assert.deepEqual(blocking.refused, ['UserPreferences']);
    const allowed = await frontendLogsIn(allowing, page, API, username);
    assert.deepEqual(allowed, { login: 200, warning: null, me: 200, kept: true, refused: [] });
    report.sameSiteNoneCrossSite = { doctor: findings[0], chromium: blocking, allowingThirdPartyCookies: allowed };

    // One site: the same server, the page on localhost.
    assert.deepEqual(doctor(api, local, API).map((f) => f.level), ['ok']);
    assert.deepEqual(await frontendLogsIn(context, local, API, username), { login: 200, warning: null, me: 200, kept: true, refused: [] });
    await context.close();
  });

  test('SameSite=None without Secure: portcullis will not start with it, and Chromium rejects that cookie as the doctor says', async () => {
    assert.throws(() => resolveConfig({ secretKey: 'k'.repeat(40) }, { PORTCULLIS_SAMESITE: 'None' }), /SameSite=None cookies are dropped by browsers unless they are Secure/);
    // The doctor still explains such a configuration:
    const config = { ...resolveConfig({ secretKey: 'k'.repeat(40), trustedOrigins: [`http://localhost:${FRONTEND_PORT}`] }, {}), sameSite: 'None' as const, secureCookies: false };
    const local = `http://localhost:${FRONTEND_PORT}`;
    const [finding, ...others] = errorsOf(diagnoseOrigin(config, local, API));
    assert.deepEqual(others, []);
    assert.match(finding!.message, /SameSite=None without Secure, so every modern browser rejects it/);
    await stop();

    // Since no portcullis sends it, a bare server on the API's port sends the very cookie portcullis
    // would write for that configuration, with the CORS answer portcullis gives a trusted origin.
    const bare: Server = createServer((req, res) => {
      res.setHeader('access-control-allow-origin', req.headers.origin ?? '');
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('access-control-allow-headers', 'content-type');
      if (req.method === 'OPTIONS') return void res.writeHead(204).end();
      if (req.url === '/api/auth/login') res.setHeader('set-cookie', sessionCookie(config, 'k'.repeat(43), 3600, false));
      res.writeHead(req.url === '/api/auth/me' && !req.headers.cookie ? 401 : 200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((ok) => bare.listen(API_PORT, 'localhost', ok));
    try {
      const context = await browser.newContext();
      const seen = await frontendLogsIn(context, local, API, 'anyone');
      await context.close();
      assert.equal(seen.login, 200);
      assert.equal(seen.kept, false);
      assert.equal(seen.me, 401);
      assert.deepEqual(seen.refused, ['SameSiteNoneInsecure']);
      report.sameSiteNoneInsecure = { doctor: finding, chromium: seen };
    } finally {
      bare.closeAllConnections();
      await new Promise((ok) => bare.close(ok));
    }
    // Its fixes, SameSite=Lax or Secure on localhost, are the working logins of the tests above.
  });
});
