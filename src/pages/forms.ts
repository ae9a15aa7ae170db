import { html, flag, type Html } from './html.js';

/** Messages per field, already translated; '__all__' holds errors of the form as a whole (Django's NON_FIELD_ERRORS). */
export type FormErrors = Record<string, string[]>;

export interface FieldOptions {
  name: string;
  label: string;
  type?: 'text' | 'email' | 'tel' | 'password' | 'search';
  value?: string;
  help?: string;
  required?: boolean;
  autocomplete?: string;
  errors: FormErrors;
  /** Set on the first field with an error, so keyboard and screen-reader users land on it. */
  autofocus?: boolean;
  inputmode?: string;
}

/** The name of the first field that has an error, in the order the form shows them. */
export function firstError(errors: FormErrors, order: string[]): string | undefined {
  return order.find((name) => errors[name]?.length);
}

function errorList(id: string, messages: string[] | undefined, prefix: string): Html {
  if (!messages?.length) return html``;
  return html`<ul class="errorlist" id="${id}">${messages.map((m) => html`<li><span class="visually-hidden">${prefix} </span>${m}</li>`)}</ul>`;
}

/**
 * A labelled input with its help and its errors right beside it: the errors and help are tied to
 * the input by aria-describedby, and aria-invalid marks it for assistive technology.
 */
export function field(o: FieldOptions, errorPrefix = ''): Html {
  const id = `id_${o.name}`;
  const messages = o.errors[o.name];
  const describedBy = [messages?.length ? `${id}_error` : null, o.help ? `${id}_help` : null].filter(Boolean).join(' ');
  return html`<div class="field">
<label for="${id}">${o.label}</label>
<input type="${o.type ?? 'text'}" name="${o.name}" id="${id}"${o.value !== undefined && o.type !== 'password' ? html` value="${o.value}"` : ''}${
    o.autocomplete ? html` autocomplete="${o.autocomplete}"` : ''
  }${o.inputmode ? html` inputmode="${o.inputmode}"` : ''}${flag('required', o.required)}${flag('autofocus', o.autofocus)}${
    messages?.length ? html` aria-invalid="true"` : ''
  }${describedBy ? html` aria-describedby="${describedBy}"` : ''}>
${errorList(`${id}_error`, messages, errorPrefix)}
${o.help ? html`<p class="help" id="${id}_help">${o.help}</p>` : ''}
</div>`;
}

export interface CheckboxOptions {
  name: string;
  label: string;
  checked: boolean;
  help?: string;
  disabled?: boolean;
  errors: FormErrors;
}

export function checkbox(o: CheckboxOptions, errorPrefix = ''): Html {
  const id = `id_${o.name}`;
  const messages = o.errors[o.name];
  const describedBy = [messages?.length ? `${id}_error` : null, o.help ? `${id}_help` : null].filter(Boolean).join(' ');
  return html`<div class="field check">
<input type="checkbox" name="${o.name}" id="${id}" value="on"${flag('checked', o.checked)}${flag('disabled', o.disabled)}${
    describedBy ? html` aria-describedby="${describedBy}"` : ''
  }${messages?.length ? html` aria-invalid="true"` : ''}>
<label for="${id}">${o.label}</label>
${errorList(`${id}_error`, messages, errorPrefix)}
${o.help ? html`<p class="help" id="${id}_help">${o.help}</p>` : ''}
</div>`;
}

export interface TextareaOptions {
  name: string;
  label: string;
  value: string;
  help?: string;
  rows?: number;
  errors: FormErrors;
  autofocus?: boolean;
}

export function textarea(o: TextareaOptions, errorPrefix = ''): Html {
  const id = `id_${o.name}`;
  const messages = o.errors[o.name];
  const describedBy = [messages?.length ? `${id}_error` : null, o.help ? `${id}_help` : null].filter(Boolean).join(' ');
  return html`<div class="field">
<label for="${id}">${o.label}</label>
<textarea name="${o.name}" id="${id}" rows="${o.rows ?? 4}"${flag('autofocus', o.autofocus)}${messages?.length ? html` aria-invalid="true"` : ''}${
    describedBy ? html` aria-describedby="${describedBy}"` : ''
  }>${o.value}</textarea>
${errorList(`${id}_error`, messages, errorPrefix)}
${o.help ? html`<p class="help" id="${id}_help">${o.help}</p>` : ''}
</div>`;
}

/** Errors that belong to no single field, at the top of the form. */
export function formAlert(errors: FormErrors, summary: string): Html {
  const all = errors.__all__ ?? [];
  if (!all.length && !Object.keys(errors).length) return html``;
  return html`<div class="alert" role="alert"><p>${summary}</p>${all.length ? html`<ul>${all.map((m) => html`<li>${m}</li>`)}</ul>` : ''}</div>`;
}
