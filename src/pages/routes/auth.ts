import type { FastifyInstance } from 'fastify';
import type { Portcullis } from '../../portcullis.js';
import { ApiError, type FieldErrors } from '../../errors.js';
import { errorMessage, fieldMessage } from '../../i18n/messages.js';
import { clearSessionCookie, cookiePolicy, setSessionCookie } from '../../http/cookies.js';
import { authOf, currentSession, requestInfo } from '../../http/request-auth.js';
import { checkFormToken, rotateFormToken } from '../csrf.js';
import { formErrors, noticeOf, pageContext, redirect, safeRedirectTarget, sendPage, type FormBody } from '../context.js';
import type { FormErrors } from '../forms.js';
import { loginPage, registerPage } from '../views/auth.js';
import type { PageContext } from '../layout.js';
import { register } from '../../flows/credentials.js';
import { logOut } from '../../flows/account.js';
import { finish, logIn, type LoginResult } from '../../flows/login.js';
import { modelBackend } from '../../auth/backends.js';
import type { FastifyReply } from 'fastify';

type Query = { next?: string; done?: string; n?: string };

/** /login, /register and /logout as plain HTML forms over the same core calls as the JSON API. */
export async function authPages(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;
  const { config, users } = portcullis;
  const cookies = cookiePolicy(config);
  const hasPhone = 'phone' in config.userFields;

  /**
   * A login's end on the pages: the session cookie and on to `next`; or, when a login step paused
   * it, the pending session's cookie and the login page saying one more step is needed.
   */
  function loggedIn(reply: FastifyReply, ctx: PageContext, result: Exclude<LoginResult, { outcome: 'refused' }>, next: string) {
    const issued = result.outcome === 'logged_in' ? result.session : result.pending;
    setSessionCookie(reply, cookies, issued.key, issued.record.persistent ? config.sessionAge : null);
    rotateFormToken(reply, config);
    if (result.outcome === 'step_required') {
      return sendPage(reply, loginPage(ctx, { username: '', remember: true, next: null, errors: {}, notice: ctx.t('notice_login_step', { step: result.pause.step }) }), 202);
    }
    return redirect(reply, next);
  }

  app.get<{ Querystring: Query }>('/login', async (request, reply) => {
    const ctx = await pageContext(portcullis, request, reply);
    const next = safeRedirectTarget(request.query.next);
    return sendPage(reply, loginPage(ctx, { username: '', remember: true, next, errors: {}, notice: noticeOf(ctx, request.query) }));
  });

  app.post<{ Body: FormBody }>('/login', { config: { csrf: 'always' } }, async (request, reply) => {
    checkFormToken(request, config);
    const ctx = await pageContext(portcullis, request, reply);
    const { username = '', password = '' } = request.body;
    const remember = request.body.remember === 'on';
    const next = safeRedirectTarget(request.body.next);
    const errors: FormErrors = {};
    if (!username) errors.username = [fieldMessage('required', ctx.locale)];
    if (!password) errors.password = [fieldMessage('required', ctx.locale)];
    const again = (status: number) => sendPage(reply, loginPage(ctx, { username, remember, next, errors }), status);
    if (Object.keys(errors).length) return again(400);
    try {
      users.checkPasswordInput('password', password);
    } catch (err) {
      if (err instanceof ApiError) return (Object.assign(errors, formErrors(ctx, err.fields)), again(400));
      throw err;
    }
    // The same login as the API's: its guessing limits, its steps, its session.
    const result = username.includes('\0')
      ? ({ outcome: 'refused' } as const)
      : await logIn(portcullis, { username, password }, requestInfo(request), { remember, previous: await currentSession(portcullis, request) });
    if (result.outcome === 'refused') {
      // The same words whichever of the two was wrong, shown beside the password the user retypes.
      errors.password = [errorMessage('invalid_credentials', ctx.locale)];
      return again(401);
    }
    return loggedIn(reply, ctx, result, next ?? '/account');
  });

  app.get('/register', async (request, reply) => {
    const ctx = await pageContext(portcullis, request, reply);
    return sendPage(reply, registerPage(ctx, { values: {}, errors: {}, phone: hasPhone }));
  });

  app.post<{ Body: FormBody }>('/register', { config: { csrf: 'always' } }, async (request, reply) => {
    checkFormToken(request, config);
    const ctx = await pageContext(portcullis, request, reply);
    const body = request.body;
    const values: Record<string, string> = { username: body.username ?? '', email: body.email ?? '', phone: body.phone ?? '' };
    const profile: Record<string, unknown> = { username: values.username, email: values.email || null };
    if (hasPhone) profile.phone = values.phone || null;
    const password = body.password1 ?? '';

    // Every problem at once, as Django's UserCreationForm shows them.
    const fields: FieldErrors = {};
    const collect = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        if (!(err instanceof ApiError) || !err.fields) throw err;
        for (const [f, ids] of Object.entries(err.fields)) (fields[f] ??= []).push(...ids);
      }
    };
    const mismatch = password !== '' && body.password2 !== password;
    if (mismatch) {
      // The validators judge a password only once both copies agree (Django's UserCreationForm).
      collect(() => users.cleanProfile(profile, false));
      collect(() => users.checkPasswordInput('password', password));
    }
    const errors = formErrors(ctx, fields, { password: 'password1' });
    if (mismatch) errors.password2 = [ctx.t('password_mismatch')];
    const again = (status: number) => sendPage(reply, registerPage(ctx, { values, errors, phone: hasPhone }), status);
    if (Object.keys(errors).length) return again(400);
    let user;
    try {
      // The same rules as the API's registration: its limit, every field's problem, a taken name.
      user = await register(portcullis, { ...profile, username: values.username ?? '' }, password, requestInfo(request));
    } catch (err) {
      if (!(err instanceof ApiError) || !err.fields) throw err;
      Object.assign(errors, formErrors(ctx, err.fields, { password: 'password1' }));
      return again(err.status);
    }
    if (!config.loginOnRegister) return redirect(reply, '/login?done=registered');
    const attempt = { user, backend: modelBackend, credentials: {}, client: requestInfo(request) };
    return loggedIn(reply, ctx, await finish(portcullis, attempt, { previous: await currentSession(portcullis, request) }), '/account');
  });

  app.post<{ Body: FormBody }>('/logout', async (request, reply) => {
    checkFormToken(request, config);
    const session = await currentSession(portcullis, request);
    const auth = session ? await authOf(portcullis, request) : null;
    await logOut(portcullis, session, auth?.user ?? null, requestInfo(request));
    clearSessionCookie(reply, cookies);
    return redirect(reply, '/login?done=logged_out');
  });
}
