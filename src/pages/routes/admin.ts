import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Portcullis } from '../../portcullis.js';
import { ApiError } from '../../errors.js';
import type { User } from '../../users/types.js';
import { UserAdmin, type AdminRights, type AdminUser } from '../../admin/service.js';
import { authOf } from '../../http/request-auth.js';
import { checkFormToken } from '../csrf.js';
import { formErrors, noticeOf, pageContext, redirect, safeRedirectTarget, sendPage, type FormBody } from '../context.js';
import type { FormErrors } from '../forms.js';
import type { PageContext } from '../layout.js';
import { userEditPage, userListPage, type UserEditView } from '../views/admin.js';

const PAGE_SIZE = 25;

/**
 * /admin/: the user administration for staff, as forms over the same UserAdmin service the admin
 * API uses, so a page can never do what the API would refuse.
 */
export async function adminPages(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;
  const { config } = portcullis;
  const admin = new UserAdmin(portcullis);

  /** The staff member behind the request; anonymous visitors go to the login form, others get 403. */
  async function staffOf(request: FastifyRequest, reply: FastifyReply): Promise<User | null> {
    const auth = await authOf(portcullis, request);
    if (!auth) {
      redirect(reply, '/login?next=/admin/');
      return null;
    }
    if (!admin.isStaff(auth.user)) throw new ApiError('permission_denied');
    return auth.user;
  }

  function userId(raw: string): number {
    if (!/^[0-9]{1,15}$/.test(raw)) throw new ApiError('not_found');
    return Number(raw);
  }

  /** Where a list action returns to: the list page it came from, never anywhere else. */
  function back(body: FormBody, fallback: string): string {
    const next = safeRedirectTarget(body.back);
    return next && next.startsWith('/admin/') ? next : fallback;
  }

  /** The list page again, with the notice of what was done (replacing any earlier one; no fragment). */
  function withDone(location: string, done: string, n?: number): string {
    const url = new URL(location, 'http://placeholder.invalid');
    url.searchParams.set('done', done);
    if (n !== undefined) url.searchParams.set('n', String(n));
    return url.pathname + url.search;
  }

  app.get('/admin', async (_request, reply) => redirect(reply, '/admin/'));

  app.get<{ Querystring: { q?: string; page?: string; done?: string; n?: string } }>('/admin/', async (request, reply) => {
    const actor = await staffOf(request, reply);
    if (!actor) return reply;
    const ctx = await pageContext(portcullis, request, reply);
    const search = (request.query.q ?? '').slice(0, 200);
    const page = /^[0-9]{1,9}$/.test(request.query.page ?? '') ? Number(request.query.page) : 1;
    const [list, rights] = await Promise.all([admin.list(actor, { search, page, pageSize: PAGE_SIZE }), admin.rights(actor)]);
    return sendPage(reply, userListPage(ctx, { list, search, rights, notice: noticeOf(ctx, request.query) }));
  });

  function editValues(user: AdminUser): UserEditView['values'] {
    return {
      first_name: user.first_name,
      last_name: user.last_name,
      email: user.email,
      groups: user.groups.join(', '),
      permissions: user.permissions.join('\n'),
      is_active: user.is_active,
      is_staff: user.is_staff,
      is_superuser: user.is_superuser,
    };
  }

  async function renderEdit(ctx: PageContext, reply: FastifyReply, actor: User, user: AdminUser, rights: AdminRights, extra: Partial<UserEditView> = {}, status = 200) {
    return sendPage(reply, userEditPage(ctx, { user, rights, values: extra.values ?? editValues(user), errors: extra.errors ?? {}, notice: extra.notice }), status);
  }

  app.get<{ Params: { id: string }; Querystring: { done?: string; n?: string } }>('/admin/users/:id', async (request, reply) => {
    const actor = await staffOf(request, reply);
    if (!actor) return reply;
    const ctx = await pageContext(portcullis, request, reply);
    const [user, rights] = await Promise.all([admin.get(actor, userId(request.params.id)), admin.rights(actor)]);
    return renderEdit(ctx, reply, actor, user, rights, { notice: noticeOf(ctx, request.query) });
  });

  app.post<{ Params: { id: string }; Body: FormBody }>('/admin/users/:id', async (request, reply) => {
    checkFormToken(request, config);
    const actor = await staffOf(request, reply);
    if (!actor) return reply;
    const id = userId(request.params.id);
    const body = request.body;
    const list = (text: string | undefined, sep: RegExp) => (text ?? '').split(sep).map((s) => s.trim()).filter(Boolean);
    const values: UserEditView['values'] = {
      first_name: body.first_name ?? '',
      last_name: body.last_name ?? '',
      email: body.email ?? '',
      groups: body.groups ?? '',
      permissions: body.permissions ?? '',
      is_active: body.is_active === 'on',
      is_staff: body.is_staff === 'on',
      is_superuser: body.is_superuser === 'on',
    };
    const patch: Record<string, unknown> = {
      first_name: values.first_name,
      last_name: values.last_name,
      email: values.email || null,
      is_active: values.is_active,
      is_staff: values.is_staff,
      groups: list(values.groups, /,/),
      permissions: list(values.permissions, /[\s,]+/),
    };
    // A disabled checkbox is not submitted: only a superuser's form carries the superuser flag.
    if (actor.is_superuser) patch.is_superuser = values.is_superuser;
    try {
      await admin.update(actor, id, patch);
    } catch (err) {
      if (!(err instanceof ApiError) || !err.fields) throw err;
      const ctx = await pageContext(portcullis, request, reply);
      const [user, rights] = await Promise.all([admin.get(actor, id), admin.rights(actor)]);
      const errors: FormErrors = formErrors(ctx, err.fields);
      if (!actor.is_superuser) values.is_superuser = user.is_superuser;
      return renderEdit(ctx, reply, actor, user, rights, { values, errors }, err.status);
    }
    return redirect(reply, `/admin/users/${id}?done=saved`);
  });

  app.post<{ Params: { id: string }; Body: FormBody }>('/admin/users/:id/active', async (request, reply) => {
    checkFormToken(request, config);
    const actor = await staffOf(request, reply);
    if (!actor) return reply;
    const active = request.body.is_active === 'on';
    await admin.update(actor, userId(request.params.id), { is_active: active });
    return redirect(reply, withDone(back(request.body, '/admin/'), active ? 'activated' : 'deactivated'));
  });

  app.post<{ Params: { id: string }; Body: FormBody }>('/admin/users/:id/revoke-sessions', async (request, reply) => {
    checkFormToken(request, config);
    const actor = await staffOf(request, reply);
    if (!actor) return reply;
    const n = await admin.revokeSessions(actor, userId(request.params.id));
    return redirect(reply, withDone(back(request.body, '/admin/'), 'sessions_ended', n));
  });

  app.post<{ Params: { id: string }; Body: FormBody }>('/admin/users/:id/delete', async (request, reply) => {
    checkFormToken(request, config);
    const actor = await staffOf(request, reply);
    if (!actor) return reply;
    await admin.delete(actor, userId(request.params.id));
    return redirect(reply, '/admin/?done=deleted');
  });
}
