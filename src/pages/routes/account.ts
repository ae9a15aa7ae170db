import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Portcullis, SessionUser } from '../../portcullis.js';
import { ApiError } from '../../errors.js';
import type { User } from '../../users/types.js';
import { clearSessionCookie, cookiePolicy, setSessionCookie } from '../../http/cookies.js';
import { authOf, requestInfo } from '../../http/request-auth.js';
import { isFreshLogin } from '../../flows/credentials.js';
import { changeOwnPassword, changeOwnProfile, endOtherSessions, endOwnSession, listOwnSessions } from '../../flows/account.js';
import { checkFormToken } from '../csrf.js';
import { formErrors, noticeOf, pageContext, redirect, sendPage, type FormBody } from '../context.js';
import type { FormErrors } from '../forms.js';
import type { PageContext } from '../layout.js';
import { accountPage } from '../views/account.js';

/** /account: profile, password change and the list of sessions, for the logged-in user. */
export async function accountPages(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;
  const { config } = portcullis;
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
    const sessions = await listOwnSessions(portcullis, auth);
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
    try {
      // A new email or phone needs a fresh login or the password (the flow's rule, the API's too).
      await changeOwnProfile(portcullis, auth, patch, body.profile_password, requestInfo(request));
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
    let session;
    try {
      // The same flow as the API (its limits, its validators): this session goes on under a new key, every other one ends.
      ({ session } = await changeOwnPassword(portcullis, auth, old_password, new_password1, requestInfo(request), new_password2));
    } catch (err) {
      if (!(err instanceof ApiError) || !err.fields) throw err;
      return fail(formErrors(ctx, err.fields, rename));
    }
    if (session) setSessionCookie(reply, cookies, session.key, session.record.persistent ? config.sessionAge : null);
    return redirect(reply, '/account?done=password');
  });

  app.post<{ Params: { id: string }; Body: FormBody }>('/account/sessions/:id/revoke', async (request, reply) => {
    checkFormToken(request, config);
    const auth = await sessionOf(request, reply);
    if (!auth) return reply;
    if ((await endOwnSession(portcullis, auth, request.params.id)).current) {
      clearSessionCookie(reply, cookies);
      return redirect(reply, '/login?done=session_ended');
    }
    return redirect(reply, '/account?done=revoked');
  });

  app.post<{ Body: FormBody }>('/account/sessions/revoke-others', async (request, reply) => {
    checkFormToken(request, config);
    const auth = await sessionOf(request, reply);
    if (!auth) return reply;
    let n: number;
    try {
      n = await endOtherSessions(portcullis, auth, request.body.others_password, requestInfo(request));
    } catch (err) {
      if (!(err instanceof ApiError) || !err.fields) throw err;
      const ctx = await pageContext(portcullis, request, reply);
      return render(ctx, reply, auth, { others: formErrors(ctx, err.fields, { password: 'others_password' }), status: err.status });
    }
    return redirect(reply, `/account?done=others_revoked&n=${n}`);
  });
}
