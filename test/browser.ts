import assert from 'node:assert/strict';
import { absorbSetCookies } from './helpers.js';

/** A browser as far as the built-in pages care: a cookie jar, form posts, redirects not followed. */
export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(
    readonly server: { url: string; origin: string },
    readonly headers: Record<string, string> = {},
  ) {}

  async request(method: string, path: string, form?: Record<string, string>, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0', ...this.headers, ...headers };
    if (this.cookies.size) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (form) {
      body = new URLSearchParams(form).toString();
      h['content-type'] ??= 'application/x-www-form-urlencoded';
      h.origin ??= this.server.origin;
    }
    const res = await fetch(this.server.url + path, { method, headers: h, body, redirect: 'manual' });
    absorbSetCookies(this.cookies, res.headers.getSetCookie());
    return { res, html: await res.text() };
  }

  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, undefined, headers);
  }

  /** Loads the page, then submits one of its forms with the hidden CSRF field filled in, as a browser would. */
  async submit(page: string, action: string, fields: Record<string, string>, headers?: Record<string, string>) {
    const { html } = await this.get(page, headers);
    const token = csrfFieldOf(html);
    assert.ok(token, `a CSRF field on ${page}`);
    return this.request('POST', action, { csrfmiddlewaretoken: token, ...fields }, headers);
  }
}

export function csrfFieldOf(html: string): string | undefined {
  return /<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">/.exec(html)?.[1];
}

/** The <input> (or textarea) named `name`, its attributes as a map. */
export function inputOf(html: string, name: string): Record<string, string> | null {
  const tag = new RegExp(`<(?:input|textarea)[^>]*\\bname="${name}"[^>]*>`).exec(html)?.[0];
  if (!tag) return null;
  const attrs: Record<string, string> = {};
  for (const m of tag.matchAll(/([a-z-]+)(?:="([^"]*)")?/g)) if (m[1]) attrs[m[1]] = m[2] ?? '';
  return attrs;
}

/** The error list tied to a field through aria-describedby. */
export function errorsOf(html: string, name: string): string {
  const input = inputOf(html, name);
  assert.ok(input, `field ${name}`);
  assert.equal(input['aria-invalid'], 'true', `${name} is marked invalid`);
  const ids = (input['aria-describedby'] ?? '').split(' ');
  const errorId = ids.find((id) => id.endsWith('_error'));
  assert.ok(errorId, `${name} is described by its errors`);
  const list = new RegExp(`<ul class="errorlist" id="${errorId}">(.*?)</ul>`, 's').exec(html)?.[1];
  assert.ok(list, `error list ${errorId}`);
  return list.replace(/<[^>]+>/g, '');
}
