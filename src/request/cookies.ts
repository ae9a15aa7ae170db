import type { PortcullisConfig } from '../config.js';

/** Reading and writing cookies, the same way on every door (the server and the adapters). */

/** One cookie out of a Cookie header; frameworks without a cookie parser (Express, fetch) need this. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    return cookieValue(part.slice(eq + 1));
  }
  return undefined;
}

/** Every cookie of a Cookie header, read as readCookie reads one: the first of a repeated name wins. */
export function parseCookies(header: string | undefined): { [cookieName: string]: string | undefined } {
  // No prototype: a cookie named __proto__ or constructor is just a cookie.
  const cookies: { [cookieName: string]: string | undefined } = Object.create(null);
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name && cookies[name] === undefined) cookies[name] = cookieValue(part.slice(eq + 1));
  }
  return cookies;
}

function cookieValue(raw: string): string {
  let value = raw.trim();
  if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  // Nothing to decode without a %: a session key never has one, and decoding is most of the parse.
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export interface CookieOptions {
  /** Seconds; null for a browser-session cookie, 0 to delete it. */
  maxAge: number | null;
  sameSite: string;
  secure: boolean;
  httpOnly?: boolean;
  path?: string;
}

/** A Set-Cookie value. A deleted cookie (maxAge 0) also gets an Expires in the past, for old browsers. */
export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  const sameSite = options.sameSite.charAt(0).toUpperCase() + options.sameSite.slice(1).toLowerCase();
  const parts = [`${name}=${encodeURIComponent(value)}`, `Path=${options.path ?? '/'}`];
  if (options.httpOnly !== false) parts.push('HttpOnly');
  parts.push(`SameSite=${sameSite}`);
  if (options.maxAge !== null) {
    parts.push(`Max-Age=${options.maxAge}`);
    if (options.maxAge === 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  }
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}

/** Secure whenever the browser reached us over HTTPS, or when the deployment says it always does. */
export function secureCookies(config: PortcullisConfig, https: boolean): boolean {
  return config.secureCookies || https;
}

/** The session cookie (contract section 5): only the random key, HttpOnly; persistent for `maxAge` seconds, else for the browser session. */
export function sessionCookie(config: PortcullisConfig, key: string, maxAge: number | null, https: boolean): string {
  return serializeCookie(config.sessionCookieName, key, { maxAge, sameSite: config.sameSite, secure: secureCookies(config, https) });
}

/** The Set-Cookie that deletes the session cookie. */
export function clearedSessionCookie(config: PortcullisConfig, https: boolean): string {
  return sessionCookie(config, '', 0, https);
}

const CSRF_COOKIE_AGE = 365 * 24 * 3600;

/** Django's CSRF cookie: readable by the page's script (it sends it back as X-CSRFToken), Lax, a year. */
export function csrfCookie(config: PortcullisConfig, token: string, https: boolean): string {
  return serializeCookie(config.csrfCookieName, token, { maxAge: CSRF_COOKIE_AGE, sameSite: 'lax', secure: secureCookies(config, https), httpOnly: false });
}
