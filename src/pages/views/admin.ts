import type { AdminRights, AdminUser, AdminUserList } from '../../admin/service.js';
import type { PublicUser } from '../../users/types.js';
import { html } from '../html.js';
import { csrfField, layout, type PageContext } from '../layout.js';
import { checkbox, field, firstError, formAlert, textarea, type FormErrors } from '../forms.js';
import { time, yesNo } from './common.js';

export interface UserListView {
  list: AdminUserList;
  search: string;
  rights: AdminRights;
  notice?: string | null;
}

function listUrl(search: string, page: number): string {
  const q = new URLSearchParams();
  if (search) q.set('q', search);
  if (page > 1) q.set('page', String(page));
  const s = q.toString();
  return '/admin/' + (s ? `?${s}` : '');
}

/** Whether the actor may act on this user at all (only superusers touch superusers). */
function mayChange(ctx: PageContext, rights: AdminRights, user: PublicUser): boolean {
  return rights.change && (ctx.user?.is_superuser === true || !user.is_superuser);
}

export function userListPage(ctx: PageContext, view: UserListView) {
  const { t } = ctx;
  const { list, search } = view;
  const pages = Math.max(1, Math.ceil(list.count / list.page_size));
  const back = listUrl(search, list.page);
  const rows = list.users.map((u) => {
    const name = `${u.first_name} ${u.last_name}`.trim();
    const actions = mayChange(ctx, view.rights, u)
      ? html`<div class="actions">
<form class="inline" method="post" action="/admin/users/${u.id}/active">${csrfField(ctx)}<input type="hidden" name="back" value="${back}"><input type="hidden" name="is_active" value="${u.is_active ? 'off' : 'on'}"><button type="submit" class="${u.is_active ? 'danger' : 'secondary'}" aria-label="${t('action_for', { action: u.is_active ? t('deactivate') : t('activate'), username: u.username })}">${u.is_active ? t('deactivate') : t('activate')}</button></form>
<form class="inline" method="post" action="/admin/users/${u.id}/revoke-sessions">${csrfField(ctx)}<input type="hidden" name="back" value="${back}"><button type="submit" class="secondary" aria-label="${t('action_for', { action: t('end_sessions'), username: u.username })}">${t('end_sessions')}</button></form>
</div>`
      : '';
    return html`<tr>
<th scope="row"><a href="/admin/users/${u.id}">${u.username}</a></th>
<td>${u.email}</td><td>${name}</td>
<td>${yesNo(ctx, u.is_active)}</td><td>${yesNo(ctx, u.is_staff)}</td><td>${yesNo(ctx, u.is_superuser)}</td>
<td>${time(ctx, u.last_login ? new Date(u.last_login) : null)}</td>
<td>${actions}</td>
</tr>`;
  });
  const body = html`
<form class="search" method="get" action="/admin/" role="search">
<div class="field"><label for="id_q">${t('admin_search')}</label><input type="search" name="q" id="id_q" value="${search}"></div>
<button type="submit">${t('admin_search_submit')}</button>
</form>
<p role="status">${t('admin_count', { n: list.count })}</p>
${
  list.users.length
    ? html`<table>
<caption>${t('admin_caption', { page: list.page, pages })}</caption>
<thead><tr><th scope="col">${t('col_username')}</th><th scope="col">${t('col_email')}</th><th scope="col">${t('col_name')}</th><th scope="col">${t('col_active')}</th><th scope="col">${t('col_staff')}</th><th scope="col">${t('col_superuser')}</th><th scope="col">${t('col_last_login')}</th><th scope="col">${t('col_actions')}</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
    : html`<p>${t('no_users')}</p>`
}
${
  pages > 1
    ? html`<nav class="pages" aria-label="${t('pagination')}"><ul>
${list.page > 1 ? html`<li><a href="${listUrl(search, list.page - 1)}" rel="prev">${t('previous')}</a></li>` : ''}
<li aria-current="page">${t('page_of', { page: list.page, pages })}</li>
${list.page < pages ? html`<li><a href="${listUrl(search, list.page + 1)}" rel="next">${t('next')}</a></li>` : ''}
</ul></nav>`
    : ''
}`;
  return layout(ctx, { title: t('admin_title'), body, notice: view.notice });
}

export interface UserEditView {
  user: AdminUser;
  rights: AdminRights;
  values: { first_name: string; last_name: string; email: string; groups: string; permissions: string; is_active: boolean; is_staff: boolean; is_superuser: boolean };
  errors: FormErrors;
  notice?: string | null;
}

export function userEditPage(ctx: PageContext, view: UserEditView) {
  const { t } = ctx;
  const { user, values, errors, rights } = view;
  const p = t('error_prefix');
  const editable = mayChange(ctx, rights, user);
  const focus = firstError(errors, ['is_active', 'is_staff', 'is_superuser', 'groups', 'permissions', 'first_name', 'last_name', 'email']);
  const form = editable
    ? html`
${formAlert(errors, t('errors_summary'))}
<form method="post" action="/admin/users/${user.id}" novalidate>
${csrfField(ctx)}
<fieldset><legend>${t('flags_legend')}</legend>
${checkbox({ name: 'is_active', label: t('is_active'), checked: values.is_active, help: t('is_active_help'), errors }, p)}
${checkbox({ name: 'is_staff', label: t('is_staff'), checked: values.is_staff, help: t('is_staff_help'), errors }, p)}
${checkbox({ name: 'is_superuser', label: t('is_superuser'), checked: values.is_superuser, help: t('is_superuser_help'), disabled: !ctx.user?.is_superuser, errors }, p)}
${field({ name: 'groups', label: t('groups'), value: values.groups, help: t('groups_help'), errors, autofocus: focus === 'groups' }, p)}
${textarea({ name: 'permissions', label: t('permissions'), value: values.permissions, help: t('permissions_help'), errors, autofocus: focus === 'permissions' }, p)}
</fieldset>
${field({ name: 'first_name', label: t('field_first_name'), value: values.first_name, errors, autofocus: focus === 'first_name' }, p)}
${field({ name: 'last_name', label: t('field_last_name'), value: values.last_name, errors, autofocus: focus === 'last_name' }, p)}
${field({ name: 'email', label: t('field_email'), type: 'email', value: values.email, errors, autofocus: focus === 'email' }, p)}
<button type="submit">${t('save')}</button>
</form>
<div class="actions">
<form method="post" action="/admin/users/${user.id}/revoke-sessions">${csrfField(ctx)}<input type="hidden" name="back" value="/admin/users/${user.id}"><button type="submit" class="secondary">${t('end_sessions')}</button></form>
${
  rights.delete
    ? html`<form method="post" action="/admin/users/${user.id}/delete" data-confirm="${t('delete_confirm')}">${csrfField(ctx)}<button type="submit" class="danger">${t('delete_user')}</button></form>`
    : ''
}
</div>`
    : html`<dl class="profile">
<dt>${t('is_active')}</dt><dd>${yesNo(ctx, user.is_active)}</dd>
<dt>${t('is_staff')}</dt><dd>${yesNo(ctx, user.is_staff)}</dd>
<dt>${t('is_superuser')}</dt><dd>${yesNo(ctx, user.is_superuser)}</dd>
<dt>${t('groups')}</dt><dd>${user.groups.join(', ')}</dd>
<dt>${t('permissions')}</dt><dd>${user.permissions.join(', ')}</dd>
</dl>`;
  const body = html`
<p><a href="/admin/">${t('back_to_users')}</a></p>
<dl class="profile">
<dt>${t('field_email')}</dt><dd>${user.email}</dd>
<dt>${t('field_date_joined')}</dt><dd>${time(ctx, new Date(user.date_joined))}</dd>
<dt>${t('field_last_login')}</dt><dd>${time(ctx, user.last_login ? new Date(user.last_login) : null)}</dd>
</dl>
${form}`;
  return layout(ctx, { title: t('user_title', { username: user.username }), body, notice: view.notice });
}
