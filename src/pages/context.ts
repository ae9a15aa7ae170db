import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Portcullis } from '../portcullis.js';
import type { FieldErrors } from '../errors.js';
import { fieldMessage, pickLocale } from '../i18n/messages.js';
import { authOf } from '../http/request-auth.js';
import type { Html } from './html.js';
import type { FormErrors } from './forms.js';
import type { PageContext } from './layout.js';
import { formToken } from './csrf.js';
import { translator, type StringKey } from './strings.js';

/** A parsed urlencoded form: one string per field (the first, if a name repeats). */
export type FormBody = Record<string, string>;

export async function pageContext(portcullis: Portcullis, request: FastifyRequest, reply: FastifyReply): Promise<PageContext> {
  const locale = pickLocale(request.headers['accept-language']);
  const auth = await authOf(portcullis, request);
  return { locale, t: translator(locale), csrfToken: formToken(request, reply, portcullis.config), user: auth?.user ?? null };
}

export function sendPage(reply: FastifyReply, page: Html, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(page.value);
}

/** POST-redirect-GET: 303 so that reloading the next page never re-submits the form. */
export function redirect(reply: FastifyReply, location: string): FastifyReply {
  return reply.code(303).header('Location', location).send();
}

/** The field ids an ApiError carries, as messages in the page's language, under the form's own field names. */
export function formErrors(ctx: PageContext, fields: FieldErrors | undefined, rename: Record<string, string> = {}): FormErrors {
  const out: FormErrors = {};
  for (const [name, ids] of Object.entries(fields ?? {})) (out[rename[name] ?? name] ??= []).push(...ids.map((id) => fieldMessage(id, ctx.locale)));
  return out;
}

/** Only to resolve candidates against: an origin no real request can have. */
const PLACEHOLDER = new URL('http://placeholder.invalid/');
/** Long enough for any real path and query; a longer one is not worth a Location header. */
const MAX_TARGET = 2048;

/**
 * A redirect target from a form or query (`next`, `back`), or null when it could leave this site.
 * The check runs on what the browser will make of it: the WHATWG URL parser drops tabs and
 * newlines, reads `\` as `/` and resolves dot segments, so `/.//evil.com` or `/\evil.com` become
 * `//evil.com`, another host. We resolve the candidate the same way, require our own origin, and
 * send the normalised path itself, which must not begin with `//` or `/\` either.
 */
export function safeRedirectTarget(candidate: unknown): string | null {
  // Control characters are refused, not stripped: no honest link carries them.
  if (typeof candidate !== 'string' || !candidate || candidate.length > MAX_TARGET || /[\u0000-\u001f\u007f]/.test(candidate)) return null;
  let url: URL;
  try {
    url = new URL(candidate, PLACEHOLDER);
  } catch {
    return null;
  }
  // The same scheme too: `blob:http://placeholder.invalid/…` has the placeholder's origin.
  if (url.origin !== PLACEHOLDER.origin || url.protocol !== PLACEHOLDER.protocol) return null;
  const target = url.pathname + url.search + url.hash;
  return /^\/[/\\]/.test(target) ? null : target;
}

/** Status lines shown after a redirect, keyed by `?done=`; anything else in the query is ignored. */
const NOTICES: Record<string, StringKey> = {
  registered: 'notice_registered',
  logged_out: 'notice_logged_out',
  session_ended: 'notice_session_ended',
  profile: 'notice_profile_saved',
  password: 'notice_password_changed',
  password_reset: 'notice_password_reset',
  revoked: 'notice_session_revoked',
  others_revoked: 'notice_others_revoked',
  activated: 'notice_activated',
  deactivated: 'notice_deactivated',
  sessions_ended: 'notice_sessions_ended',
  saved: 'notice_saved',
  deleted: 'notice_deleted',
};

export function noticeOf(ctx: PageContext, query: { done?: string; n?: string }): string | null {
  const key = query.done ? NOTICES[query.done] : undefined;
  if (!key) return null;
  const n = query.n && /^[0-9]{1,6}$/.test(query.n) ? query.n : '0';
  return ctx.t(key, { n });
}
