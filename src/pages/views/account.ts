import type { SessionRecord } from '../../sessions/base.js';
import type { User } from '../../users/types.js';
import { describeDevice } from '../device.js';
import { html } from '../html.js';
import { csrfField, layout, type PageContext } from '../layout.js';
import { field, firstError, type FormErrors } from '../forms.js';
import { time } from './common.js';

export interface AccountView {
  user: User;
  sessions: SessionRecord[];
  current: SessionRecord;
  phone: boolean;
  profile: { values: Record<string, string>; errors: FormErrors };
  password: { errors: FormErrors };
  /** Errors of the "end all other sessions" form (its re-authentication). */
  others?: { errors: FormErrors };
  /** Whether the session comes from a recent login; if not, sensitive forms ask for the password. */
  fresh: boolean;
  notice?: string | null;
}

export function accountPage(ctx: PageContext, view: AccountView) {
  const { t } = ctx;
  const { user } = view;
  const p = t('error_prefix');
  const pe = view.profile.errors;
  const we = view.password.errors;
  // Only one field on the page may take the focus: the first error of the form that failed.
  const oe = view.others?.errors ?? {};
  const focus =
    firstError(pe, ['first_name', 'last_name', 'email', 'phone', 'profile_password']) ??
    firstError(we, ['old_password', 'new_password1', 'new_password2']) ??
    firstError(oe, ['others_password']);
  // A session from an old login proves little: changing a login identifier or ending the other
  // sessions asks for the password again (the rule is requireFreshLogin's, for every door).
  const reauth = (name: string, errors: FormErrors, help: string) =>
    view.fresh ? '' : field({ name, label: t('field_current_password'), type: 'password', autocomplete: 'current-password', errors, autofocus: focus === name, help }, p);
  const v = view.profile.values;

  const sessions = html`
<section aria-labelledby="sessions-heading">
<h2 id="sessions-heading">${t('sessions_heading')}</h2>
<table>
<caption>${t('sessions_caption')}</caption>
<thead><tr><th scope="col">${t('session_device')}</th><th scope="col">${t('session_ip')}</th><th scope="col">${t('session_last_seen')}</th><th scope="col">${t('session_created')}</th><th scope="col">${t('session_actions')}</th></tr></thead>
<tbody>
${view.sessions.map((s) => {
  const device = describeDevice(s.userAgent, ctx.locale);
  const current = s.keyHash === view.current.keyHash;
  const lastSeen = new Date(s.lastSeenAt);
  return html`<tr${current ? html` aria-current="true"` : ''}>
<th scope="row">${device}${current ? html` <span class="badge">${t('session_current')}</span>` : ''}</th>
<td>${s.ip ?? ''}</td>
<td>${time(ctx, lastSeen)}</td>
<td>${time(ctx, new Date(s.createdAt))}</td>
<td>${
    current
      ? ''
      : html`<form class="inline" method="post" action="/account/sessions/${s.publicId}/revoke">${csrfField(ctx)}<button type="submit" class="danger" aria-label="${t('session_revoke_label', { device, when: lastSeen.toISOString().slice(0, 16).replace('T', ' ') + ' UTC' })}">${t('session_revoke')}</button></form>`
  }</td>
</tr>`;
})}
</tbody>
</table>
${
  view.sessions.length > 1
    ? html`<form method="post" action="/account/sessions/revoke-others" novalidate>${csrfField(ctx)}${reauth('others_password', oe, t('reauth_others_help'))}<p><button type="submit" class="danger">${t('sessions_revoke_others')}</button></p></form>`
    : ''
}
</section>`;

  const body = html`
<section aria-labelledby="profile-heading">
<h2 id="profile-heading">${t('profile_heading')}</h2>
<dl class="profile">
<dt>${t('field_username')}</dt><dd>${user.username}</dd>
<dt>${t('field_date_joined')}</dt><dd>${time(ctx, user.date_joined)}</dd>
<dt>${t('field_last_login')}</dt><dd>${time(ctx, user.last_login)}</dd>
</dl>
<form method="post" action="/account/profile" novalidate>
${csrfField(ctx)}
${field({ name: 'first_name', label: t('field_first_name'), value: v.first_name, autocomplete: 'given-name', errors: pe, autofocus: focus === 'first_name' }, p)}
${field({ name: 'last_name', label: t('field_last_name'), value: v.last_name, autocomplete: 'family-name', errors: pe, autofocus: focus === 'last_name' }, p)}
${field({ name: 'email', label: t('field_email'), type: 'email', value: v.email, autocomplete: 'email', errors: pe, autofocus: focus === 'email' }, p)}
${view.phone ? field({ name: 'phone', label: t('field_phone'), type: 'tel', value: v.phone, autocomplete: 'tel', inputmode: 'tel', errors: pe, autofocus: focus === 'phone' }, p) : ''}
${reauth('profile_password', pe, t(view.phone ? 'reauth_profile_help_phone' : 'reauth_profile_help'))}
<button type="submit">${t('profile_submit')}</button>
</form>
</section>

<section aria-labelledby="password-heading">
<h2 id="password-heading">${t('password_heading')}</h2>
<form method="post" action="/account/password" novalidate>
${csrfField(ctx)}
<input type="text" name="username" value="${user.username}" autocomplete="username" hidden>
${field({ name: 'old_password', label: t('old_password'), type: 'password', required: true, autocomplete: 'current-password', errors: we, autofocus: focus === 'old_password' }, p)}
${field({ name: 'new_password1', label: t('new_password1'), type: 'password', required: true, autocomplete: 'new-password', errors: we, autofocus: focus === 'new_password1' }, p)}
${field({ name: 'new_password2', label: t('new_password2'), type: 'password', required: true, autocomplete: 'new-password', errors: we, autofocus: focus === 'new_password2' }, p)}
<button type="submit">${t('password_submit')}</button>
</form>
</section>
${sessions}`;
  return layout(ctx, { title: t('account_title'), body, notice: view.notice });
}
