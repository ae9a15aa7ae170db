import { existsSync } from 'node:fs';
import { redactUrl, type PortcullisConfig } from './config.js';
import type { DatabaseHandle } from './db/connect.js';

export interface Finding {
  level: 'ok' | 'warning' | 'error';
  /** What the browser will do, in one or two plain sentences. */
  message: string;
  /** The one change that fixes it. */
  fix?: string;
}

/**
 * The "site" a browser uses for SameSite: scheme plus registrable domain. Without a public-suffix
 * list we take the last two labels of a name, and an IP address or single label as it is; that is
 * right for localhost, 127.0.0.1 and ordinary domains, which is where the classic mistakes happen.
 */
export function siteOf(url: URL): string {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const isIp = /^[\d.]+$/.test(host) || host.includes(':');
  const labels = host.split('.');
  const domain = isIp || labels.length <= 2 ? host : labels.slice(-2).join('.');
  return `${url.protocol}//${domain}`;
}

function isLoopbackName(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]' || host === '::1';
}

/**
 * Says whether a browser page at `origin` calling the API at `apiOrigin` with
 * `fetch(..., {credentials: "include"})` will keep and send the session cookie, and why not.
 */
export function diagnoseOrigin(config: PortcullisConfig, origin: string, apiOrigin: string): Finding[] {
  const findings: Finding[] = [];
  let page: URL;
  let api: URL;
  try {
    page = new URL(origin);
    api = new URL(apiOrigin);
  } catch {
    return [{ level: 'error', message: `"${origin}" is not a URL.`, fix: 'Give the frontend origin like http://localhost:5173.' }];
  }
  const sameOrigin = page.origin === api.origin;
  const sameSite = siteOf(page) === siteOf(api);
  const secure = config.secureCookies || api.protocol === 'https:';
  const sameSiteAttr = config.sameSite;

  if (sameSiteAttr === 'None' && !secure) {
    findings.push({
      level: 'error',
      message: 'The session cookie says SameSite=None without Secure, so every modern browser rejects it and no login survives.',
      fix: 'Serve the API over HTTPS and set PORTCULLIS_SECURE_COOKIES=1, or go back to SameSite=Lax.',
    });
  }
  if (secure && api.protocol === 'http:' && !isLoopbackName(api.hostname)) {
    findings.push({
      level: 'error',
      message: `The session cookie is Secure but the API is served over plain HTTP at ${api.origin}, so the browser will not store it.`,
      fix: 'Serve the API over HTTPS, or unset PORTCULLIS_SECURE_COOKIES for local development.',
    });
  }
  if (!sameSite) {
    const loopbackMix = isLoopbackName(page.hostname) && isLoopbackName(api.hostname) && page.hostname !== api.hostname;
    if (sameSiteAttr !== 'None') {
      findings.push({
        level: 'error',
        message: loopbackMix
          ? `${page.origin} and ${api.origin} are different sites to a browser (localhost is not 127.0.0.1), so the SameSite=${sameSiteAttr} session cookie is not sent with the page's requests: the login seems to work, then is lost on the next request or reload.`
          : `${page.origin} and ${api.origin} are different sites, so the SameSite=${sameSiteAttr} session cookie is not sent with the page's requests and the user appears logged out.`,
        fix: loopbackMix
          ? `Use the same host name on both sides: open the frontend as ${page.protocol}//${api.hostname}:${page.port || (page.protocol === 'https:' ? '443' : '80')} (or call the API as ${api.protocol}//${page.hostname}:${api.port}).`
          : 'Serve the frontend and the API under one site (e.g. app.example.com and api.example.com). (SameSite=None over HTTPS, with PORTCULLIS_SECURE_COOKIES=1, reaches only browsers that allow third-party cookies.)',
      });
    } else {
      findings.push({
        level: 'warning',
        // Seen in Chromium 156 (test/e2e/doctor.e2e.ts): dropped by default, kept once third-party cookies are allowed.
        message: `${page.origin} is cross-site to ${api.origin}, so the SameSite=None session cookie is a third-party cookie there: browsers that allow third-party cookies keep and send it, those that block them (Safari and Chromium by default) drop it and the user appears logged out.`,
        fix: 'Prefer serving the frontend and the API under one site.',
      });
    }
  }
  if (!sameOrigin && !config.trustedOrigins.includes(page.origin)) {
    findings.push({
      level: 'error',
      message: `${page.origin} is not in PORTCULLIS_TRUSTED_ORIGINS, so the browser refuses to hand the API's answers to the page (no CORS headers) and logins from it are refused as cross-site requests (403 csrf_failed).`,
      fix: `Set PORTCULLIS_TRUSTED_ORIGINS=${[...config.trustedOrigins, page.origin].join(',')}.`,
    });
  }
  // Only when nothing else was said: an "OK, the cookie is kept" after a warning would contradict it.
  if (!findings.length) {
    findings.push({
      level: 'ok',
      message: sameOrigin
        ? `${page.origin} is the API's own origin: the session cookie is stored and sent.`
        : `A page at ${page.origin} calling ${api.origin} with credentials: "include" keeps and sends the session cookie.`,
    });
  }
  return findings;
}

export function formatFindings(findings: Finding[]): string {
  return findings
    .map((f) => `${f.level === 'ok' ? 'OK' : f.level === 'warning' ? 'WARNING' : 'PROBLEM'}: ${f.message}${f.fix ? `\n  Fix: ${f.fix}` : ''}`)
    .join('\n');
}

/** Longest a connection check may take: a host that drops packets must not hang `check`. */
const CONNECT_TIMEOUT_MS = 5000;

async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function checkDatabase(url: string, role: string): Promise<Finding> {
  const where = redactUrl(url);
  if (url.startsWith('sqlite:') && url !== 'sqlite::memory:' && !existsSync(url.slice('sqlite:'.length))) {
    return { level: 'warning', message: `The ${role} ${where} does not exist yet.`, fix: 'Run portcullis migrate (serve does it too).' };
  }
  let handle: DatabaseHandle | undefined;
  try {
    const [{ connectDatabase }, { sql }] = await Promise.all([import('./db/connect.js'), import('kysely')]);
    handle = connectDatabase(url);
    await within(CONNECT_TIMEOUT_MS, sql`select 1`.execute(handle.db));
    return { level: 'ok', message: `The ${role} ${where} answers.` };
  } catch (err) {
    return { level: 'error', message: `Cannot reach the ${role} ${where}: ${(err as Error).message}.`, fix: 'Start it, or correct PORTCULLIS_DATABASE_URL.' };
  } finally {
    await handle?.close().catch(() => {});
  }
}

async function checkRedis(url: string, prefix: string): Promise<Finding> {
  const where = redactUrl(url);
  try {
    const { connectRedis } = await import('./redis.js');
    const redis = await within(CONNECT_TIMEOUT_MS, connectRedis(url, prefix));
    try {
      await within(CONNECT_TIMEOUT_MS, redis.client.ping());
    } finally {
      await redis.close();
    }
    return { level: 'ok', message: `The session store ${where} answers.` };
  } catch (err) {
    return { level: 'error', message: `Cannot reach the session store ${where}: ${(err as Error).message}.`, fix: 'Start it, or correct PORTCULLIS_SESSION_STORE.' };
  }
}

/** Whether the database and the session store this configuration names answer now. */
export async function checkConnections(config: PortcullisConfig): Promise<Finding[]> {
  const findings = [await checkDatabase(config.databaseUrl, 'database')];
  const { isRedisUrl } = await import('./redis.js');
  if (isRedisUrl(config.sessionStore)) findings.push(await checkRedis(config.sessionStore, config.redisPrefix));
  if (config.sessionStore === 'django' && config.djangoDatabaseUrl && config.djangoDatabaseUrl !== config.databaseUrl) {
    findings.push(await checkDatabase(config.djangoDatabaseUrl, "Django app's database"));
  }
  return findings;
}
