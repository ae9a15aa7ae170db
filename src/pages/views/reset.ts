import { html } from '../html.js';
import { csrfField, layout, type PageContext } from '../layout.js';
import { field, firstError, formAlert, type FormErrors } from '../forms.js';

/** Django's PasswordResetView: the address to send a link to. */
export function resetRequestPage(ctx: PageContext, form: { email: string; errors: FormErrors }) {
  const { t } = ctx;
  const body = html`
<p>${t('reset_request_intro')}</p>
${formAlert(form.errors, t('errors_summary'))}
<form method="post" action="/password-reset" novalidate>
${csrfField(ctx)}
${field({ name: 'email', label: t('reset_email'), type: 'email', value: form.email, required: true, autocomplete: 'email', errors: form.errors, autofocus: true }, t('error_prefix'))}
<button type="submit">${t('reset_request_submit')}</button>
</form>
<p><a href="/login">${t('nav_login')}</a></p>`;
  return layout(ctx, { title: t('reset_request_title'), body, narrow: true });
}

/** Django's PasswordResetDoneView: the same words whether or not the address has an account. */
export function resetSentPage(ctx: PageContext) {
  const { t } = ctx;
  const body = html`<p>${t('reset_done_text')}</p><p>${t('reset_done_help')}</p><p><a href="/login">${t('nav_login')}</a></p>`;
  return layout(ctx, { title: t('reset_done_title'), body, narrow: true });
}

export interface SetPasswordForm {
  uid: string;
  username: string;
  errors: FormErrors;
}

/** Django's PasswordResetConfirmView with a valid link: the new password, twice. */
export function setPasswordPage(ctx: PageContext, form: SetPasswordForm) {
  const { t } = ctx;
  const { errors } = form;
  const focus = firstError(errors, ['new_password1', 'new_password2']) ?? 'new_password1';
  const p = t('error_prefix');
  const body = html`
<p>${t('reset_confirm_intro')}</p>
${formAlert(errors, t('errors_summary'))}
<form method="post" action="/reset/${form.uid}/set-password" novalidate>
${csrfField(ctx)}
<input type="text" name="username" value="${form.username}" autocomplete="username" hidden>
${field({ name: 'new_password1', label: t('new_password1'), type: 'password', required: true, autocomplete: 'new-password', errors, autofocus: focus === 'new_password1' }, p)}
${field({ name: 'new_password2', label: t('new_password2'), type: 'password', required: true, autocomplete: 'new-password', errors, autofocus: focus === 'new_password2' }, p)}
<button type="submit">${t('reset_confirm_submit')}</button>
</form>`;
  return layout(ctx, { title: t('reset_confirm_title'), body, narrow: true });
}

/** The link was wrong, spent or expired: say so, and offer a new one. */
export function resetInvalidPage(ctx: PageContext) {
  const { t } = ctx;
  const body = html`<p>${t('reset_invalid_text')}</p><p><a href="/password-reset">${t('reset_invalid_link')}</a></p>`;
  return layout(ctx, { title: t('reset_invalid_title'), body, narrow: true });
}
