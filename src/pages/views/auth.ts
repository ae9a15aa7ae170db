import { html } from '../html.js';
import { csrfField, layout, type PageContext } from '../layout.js';
import { checkbox, field, firstError, formAlert, type FormErrors } from '../forms.js';

export interface LoginForm {
  username: string;
  remember: boolean;
  next: string | null;
  errors: FormErrors;
  notice?: string | null;
}

export function loginPage(ctx: PageContext, form: LoginForm) {
  const { t } = ctx;
  const { errors } = form;
  const focus = firstError(errors, ['username', 'password']) ?? (form.username ? 'password' : 'username');
  const p = t('error_prefix');
  const body = html`
${formAlert(errors, t('errors_summary'))}
<form method="post" action="/login" novalidate>
${csrfField(ctx)}
${form.next ? html`<input type="hidden" name="next" value="${form.next}">` : ''}
${field({ name: 'username', label: t('login_username'), value: form.username, required: true, autocomplete: 'username', errors, autofocus: focus === 'username' }, p)}
${field({ name: 'password', label: t('login_password'), type: 'password', required: true, autocomplete: 'current-password', errors, autofocus: focus === 'password' }, p)}
${checkbox({ name: 'remember', label: t('login_remember'), checked: form.remember, help: t('login_remember_help'), errors }, p)}
<button type="submit">${t('login_submit')}</button>
</form>
<p><a href="/password-reset">${t('login_forgot')}</a></p>
<p>${t('login_no_account')} <a href="/register">${t('login_register_link')}</a></p>`;
  return layout(ctx, { title: t('login_title'), body, narrow: true, notice: form.notice });
}

export interface RegisterForm {
  values: Record<string, string>;
  errors: FormErrors;
  /** Whether the deployment has a phone field (the default config does). */
  phone: boolean;
}

export function registerPage(ctx: PageContext, form: RegisterForm) {
  const { t } = ctx;
  const { errors, values } = form;
  const order = ['username', 'email', 'phone', 'password1', 'password2'];
  const focus = firstError(errors, order) ?? 'username';
  const p = t('error_prefix');
  const body = html`
${formAlert(errors, t('errors_summary'))}
<form method="post" action="/register" novalidate>
${csrfField(ctx)}
${field({ name: 'username', label: t('register_username'), value: values.username, help: t('register_username_help'), required: true, autocomplete: 'username', errors, autofocus: focus === 'username' }, p)}
${field({ name: 'email', label: t('register_email'), type: 'email', value: values.email, autocomplete: 'email', errors, autofocus: focus === 'email' }, p)}
${form.phone ? field({ name: 'phone', label: t('register_phone'), type: 'tel', value: values.phone, autocomplete: 'tel', inputmode: 'tel', errors, autofocus: focus === 'phone' }, p) : ''}
${field({ name: 'password1', label: t('register_password1'), type: 'password', required: true, autocomplete: 'new-password', errors, autofocus: focus === 'password1' }, p)}
${field({ name: 'password2', label: t('register_password2'), type: 'password', required: true, autocomplete: 'new-password', help: t('register_password2_help'), errors, autofocus: focus === 'password2' }, p)}
<button type="submit">${t('register_submit')}</button>
</form>
<p>${t('register_have_account')} <a href="/login">${t('nav_login')}</a></p>`;
  return layout(ctx, { title: t('register_title'), body, narrow: true });
}
