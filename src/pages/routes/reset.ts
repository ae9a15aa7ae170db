import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Portcullis } from '../../portcullis.js';
import { ApiError, type FieldErrors } from '../../errors.js';
import { fieldMessage } from '../../i18n/messages.js';
import { isValidEmail } from '../../users/normalize.js';
import { confirmPasswordReset, requestPasswordReset, settleResetMails, userForResetAttempt } from '../../flows/reset.js';
import { appendSetCookie, clearSessionCookie, cookiePolicy } from '../../http/cookies.js';
import { secureCookies, serializeCookie } from '../../request/cookies.js';
import { checkFormToken } from '../csrf.js';
import { formErrors, pageContext, redirect, sendPage, type FormBody } from '../context.js';
import { resetInvalidPage, resetRequestPage, resetSentPage, setPasswordPage } from '../views/reset.js';

/** Where the token waits between following the link and choosing the password (Django keeps it in the session). */
const TOKEN_COOKIE = 'password_reset_token';
/** Time to choose a password once the link has been opened; the link itself can be opened again. */
const TOKEN_COOKIE_AGE = 3600;
/** The path in the URL instead of the token, as Django's INTERNAL_RESET_SESSION_TOKEN redirect. */
const SET_PASSWORD = 'set-password';

type Params = { uid: string };

/**
 * The password reset by mail as pages: ask for a link, follow it, choose a new password. The rules
 * (who gets a mail, what a valid token is, how many guesses a client has) are the flow's, the same
 * the JSON API runs.
 */
export async function resetPages(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;
  const { config, users } = portcullis;
  const cookies = cookiePolicy(config);
  app.addHook('onClose', () => settleResetMails(portcullis));

  app.get('/password-reset', async (request, reply) => {
    const ctx = await pageContext(portcullis, request, reply);
    return sendPage(reply, resetRequestPage(ctx, { email: '', errors: {} }));
  });

  app.post<{ Body: FormBody }>('/password-reset', { config: { csrf: 'always' } }, async (request, reply) => {
    checkFormToken(request, config);
    const email = (request.body.email ?? '').trim();
    const problem = !email ? 'required' : email.length > 254 || !isValidEmail(email) ? 'email_invalid' : null;
    if (problem) {
      const ctx = await pageContext(portcullis, request, reply);
      return sendPage(reply, resetRequestPage(ctx, { email, errors: { email: [fieldMessage(problem, ctx.locale)] } }), 400);
    }
    await requestPasswordReset(portcullis, request.ip, email, (err) =>
      request.log.error({ err: { message: (err as Error).message } }, 'password reset mail failed'),
    );
    return redirect(reply, '/password-reset/done');
  });

  app.get('/password-reset/done', async (request, reply) => {
    const ctx = await pageContext(portcullis, request, reply);
    return sendPage(reply, resetSentPage(ctx));
  });

  function tokenCookie(reply: FastifyReply, uid: string, token: string, maxAge: number): void {
    appendSetCookie(
      reply,
      serializeCookie(TOKEN_COOKIE, token, {
        // Sent back to this user's set-password page alone.
        path: `/reset/${uid}/`,
        // Lax: the link is followed from a mail, a navigation from another site.
        sameSite: 'lax',
        secure: secureCookies(config, reply.request.protocol === 'https'),
        maxAge,
      }),
    );
  }

  async function invalidLink(request: FastifyRequest<{ Params: Params }>, reply: FastifyReply): Promise<FastifyReply> {
    // Only a well-formed uid ever had the cookie set under its path.
    if (request.cookies[TOKEN_COOKIE] !== undefined && /^[A-Za-z0-9_-]{1,16}$/.test(request.params.uid)) tokenCookie(reply, request.params.uid, '', 0);
    const ctx = await pageContext(portcullis, request, reply);
    return sendPage(reply, resetInvalidPage(ctx), 400);
  }

  // The link from the mail. It is checked, then traded for a cookie and a URL without the token,
  // so the token stays out of the history, of Referer headers and of access logs (Django does the same).
  // Only this URL needs no-referrer: a page with that policy makes the browser send `Origin: null`
  // with its forms, which the CSRF check refuses, so the set-password page keeps same-origin.
  // A route hook, so that it runs after the server-wide security headers (same-origin) and wins.
  const noReferrer = async (_request: FastifyRequest, reply: FastifyReply) => void reply.header('Referrer-Policy', 'no-referrer');
  app.get<{ Params: Params & { token: string } }>('/reset/:uid/:token', { onSend: noReferrer }, async (request, reply) => {
    const { uid, token } = request.params;
    const user = await userForResetAttempt(portcullis, request.ip, uid, token);
    if (!user) return invalidLink(request, reply);
    tokenCookie(reply, uid, token, TOKEN_COOKIE_AGE);
    return redirect(reply, `/reset/${uid}/${SET_PASSWORD}`);
  });

  app.get<{ Params: Params }>(`/reset/:uid/${SET_PASSWORD}`, async (request, reply) => {
    const { uid } = request.params;
    const user = await userForResetAttempt(portcullis, request.ip, uid, request.cookies[TOKEN_COOKIE]);
    if (!user) return invalidLink(request, reply);
    const ctx = await pageContext(portcullis, request, reply);
    return sendPage(reply, setPasswordPage(ctx, { uid, username: user.username, errors: {} }));
  });

  app.post<{ Params: Params; Body: FormBody }>(`/reset/:uid/${SET_PASSWORD}`, { config: { csrf: 'always' } }, async (request, reply) => {
    checkFormToken(request, config);
    const { uid } = request.params;
    const token = request.cookies[TOKEN_COOKIE];
    const user = await userForResetAttempt(portcullis, request.ip, uid, token);
    if (!user) return invalidLink(request, reply);
    const ctx = await pageContext(portcullis, request, reply);
    const { new_password1 = '', new_password2 = '' } = request.body;
    const again = (fields: FieldErrors, mismatch = false) => {
      const errors = formErrors(ctx, fields, { new_password: 'new_password1' });
      if (mismatch) errors.new_password2 = [ctx.t('password_mismatch')];
      return sendPage(reply, setPasswordPage(ctx, { uid, username: user.username, errors }), 400);
    };
    try {
      users.checkPasswordInput('new_password', new_password1);
      // Django's SetPasswordForm: the validators judge the password once both copies agree.
      if (new_password1 !== new_password2) return again({}, true);
      await confirmPasswordReset(portcullis, request.ip, uid, token, new_password1);
    } catch (err) {
      if (!(err instanceof ApiError) || !err.fields) throw err;
      if (err.fields.token) return invalidLink(request, reply);
      return again(err.fields);
    }
    // The token is spent and every session of the user has ended, this browser's too if it had one.
    tokenCookie(reply, uid, '', 0);
    if (request.cookies[config.sessionCookieName] !== undefined) clearSessionCookie(reply, cookies);
    return redirect(reply, '/login?done=password_reset');
  });
}
