import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Portcullis, SessionUser } from '../../portcullis.js';
import { ApiError } from '../../errors.js';
import type { User } from '../../users/types.js';
import { clearSessionCookie, cookiePolicy, setSessionCookie } from '../../http/cookies.js';
import { authOf } from '../../http/request-auth.js';
import { checkOwnPassword, isFreshLogin, requireFreshLogin } from '../../flows/credentials.js';
import { loginKey } from '../../users/normalize.js';
import { checkFormToken } from '../csrf.js';
import { formErrors, noticeOf, pageContext, redirect, sendPage, type FormBody } from '../context.js';
import type { FormErrors } from '../forms.js';
import type { PageContext } from '../layout.js';
import { accountPage } from '../views/account.js';

/** /account: profile, password change and the list of sessions, for the logged-in user. */
export async function accountPages(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;
  const { config, users } = portcullis;
  const cookies = cookiePolicy(config);
  const hasPhone = 'phone' in config.userFields;

  /** The session behind the page, or null after sending the visitor to the login form. */
  async function sessionOf(request: FastifyRequest, reply: FastifyReply): Promise<SessionUser | null> {
    const auth = await authOf(portcullis, request);
    if (auth?.session) return auth;
    redirect(reply, '/login?next=/account');
    return null;
  }

  function profileValues(user: User): Record<string, string> {
    const values: Record<string, string> = { first_name: user.first_name, last_name: user.last_name, email: user.email };
    if (hasPhone) values.phone = String(user.fields.phone ?? '');
    return values;
  }

  async function render(
    ctx: PageContext,
    reply: FastifyReply,
    auth: SessionUser,
    extra: { profile?: { values: Record<string, string>; errors: FormErrors }; password?: FormErrors; others?: FormErrors; notice?: string | null; status?: number },
  ) {
    const sessions = await portcullis.sessions.list(auth.user.id);
    const page = accountPage(ctx, {
      user: auth.user,
      sessions,
      current: auth.session,
      phone: hasPhone,
      profile: extra.profile ?? { values: profileValues(auth.user), errors: {} },
      password: { errors: extra.password ?? {} },
      others: { errors: extra.others ?? {} },
      fresh: isFreshLogin(portcullis, auth.session),
      notice: extra.notice,
    });
    return sendPage(reply, page, extra.status);
  }

  app.get<{ Querystring: { done?: string; n?: string } }>('/account', async (request, reply) => {
    const auth = await sessionOf(request, reply);
    if (!auth) return reply;
    const ctx = await pageContext(portcullis, request, reply);
    return render(ctx, reply, auth, { notice: noticeOf(ctx, request.query) });
  });

  app.post<{ Body: FormBody }>('/account/profile', async (request, reply) => {
    checkFormToken(request, config);
    const auth = await sessionOf(request, reply);
    if (!auth) return reply;
    const ctx = await pageContext(portcullis, request, reply);
    const body = request.body;
    // Only these fields: flags and the username are never taken from this form.
    const patch: Record<string, unknown> = { first_name: body.first_name ?? '', last_name: body.last_name ?? '', email: body.email || null };
    if (hasPhone) patch.phone = body.phone || null;
    // A new email or phone is a new way into the account (a reset mail goes there): only with a
    // fresh login or the password, as the API's sensitive actions.
    const sameAs = (typed: unknown, stored: unknown) => loginKey(typeof typed === 'string' ? typed : '') === loginKey(typeof stored === 'string' ? stored : '');
    const identifierChanged = !sameAs(patch.email, auth.user.email) || (hasPhone && !sameAs(patch.phone, auth.user.fields.phone));
    try {
      if (identifierChanged) await requireFreshLogin(portcullis, request.ip, auth, body.profile_password);
      await users.update(auth.user.id, patch);
    } catch (err) {
      if (!(err instanceof ApiError) || !err.fields) throw err;
      const values = Object.fromEntries(Object.entries(patch).map(([k, v]) => [k, typeof v === 'string' ? v : '']));
      return render(ctx, reply, auth, { profile: { values, errors: formErrors(ctx, err.fields, { password: 'profile_password' }) }, status: err.status });
    }
    return redirect(reply, '/account?done=profile');
  });

  app.post<{ Body: FormBody }>('/account/password', async (request, reply) => {
    checkFormToken(request, config);
    const auth = await sessionOf(request, reply);
    if (!auth) return reply;
    const ctx = await pageContext(portcullis, request, reply);
    const { old_password = '', new_password1 = '', new_password2 = '' } = request.body;
    const fail = (errors: FormErrors, status = 400) => render(ctx, reply, auth, { password: errors, status });
    const rename = { old_password: 'old_password', new_password: 'new_password1' };
    try {
      users.checkPasswordInput('old_password', old_password);
      users.checkPasswordInput('new_password', new_password1);
      // The same limits as the API's password change (429 past them).
      if (!(await checkOwnPassword(portcullis, auth.user, 'old_password', old_password, request.ip))) return fail(formErrors(ctx, { old_password: ['password_incorrect'] }));
      if (new_password1 !== new_password2) return fail({ new_password2: [ctx.t('password_mismatch')] });
      portcullis.validateNewPassword('new_password', new_password1, auth.user);
    } catch (err) {
      if (!(err instanceof ApiError) || !err.fields) throw err;
      return fail(formErrors(ctx, err.fields, rename));
    }
    // The same call as the API: this session goes on under a new key, every other one ends.
    const { session } = await portcullis.changePassword(auth.user, new_password1, auth.session);
    if (session) setSessionCookie(reply, cookies, session.key, session.record.persistent ? config.sessionAge : null);
    return redirect(reply, '/account?done=password');
  });

  app.post<{ Params: { id: string }; Body: FormBody }>('/account/sessions/:id/revoke', async (request, reply) => {
    checkFormToken(request, config);
    const auth = await sessionOf(request, reply);
    if (!auth) return reply;
    // Someone else's session looks exactly like one that does not exist.
    if (request.params.id.length > 64 || !(await portcullis.sessions.revoke(auth.user.id, request.params.id))) throw new ApiError('not_found');
    if (request.params.id === auth.session.publicId) {
      clearSessionCookie(reply, cookies);
      return redirect(reply, '/login?done=session_ended');
    }
    return redirect(reply, '/account?done=revoked');
  });

  app.post<{ Body: FormBody }>('/account/sessions/revoke-others', async (request, reply) => {
    checkFormToken(request, config);
    const auth = await sessionOf(request, reply);
    if (!auth) return reply;
    try {
      await requireFreshLogin(portcullis, request.ip, auth, request.body.others_password);
    } catch (err) {
      if (!(err instanceof ApiError) || !err.fields) throw err;
      const ctx = await pageContext(portcullis, request, reply);
      return render(ctx, reply, auth, { others: formErrors(ctx, err.fields, { password: 'others_password' }), status: err.status });
    }
    const n = await portcullis.sessions.endAllForUser(auth.user.id, auth.session);
    return redirect(reply, `/account?done=others_revoked&n=${n}`);
  });
}
