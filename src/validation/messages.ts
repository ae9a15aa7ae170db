/**
 * Text for the message ids the password validators return. Ids carry their parameters
 * ('password_too_short|min_length=8') so API clients can render their own text; these templates
 * are the server's rendering, with Django's English wording.
 */

export type PasswordMessageLocale = 'en' | 'zh-CN';

export const passwordValidationMessages: Record<PasswordMessageLocale, Record<string, string>> = {
  en: {
    password_too_short: 'This password is too short. It must contain at least {min_length} characters.',
    password_too_similar: 'The password is too similar to the {verbose_name}.',
    password_too_common: 'This password is too common.',
    password_entirely_numeric: 'This password is entirely numeric.',
    password_too_long: 'The password may have at most {max_length} characters.',
  },
  'zh-CN': {
    password_too_short: '密码太短，至少需要包含 {min_length} 个字符。',
    password_too_similar: '密码与{verbose_name}过于相似。',
    password_too_common: '这个密码太常见了。',
    password_entirely_numeric: '密码不能全部是数字。',
    password_too_long: '密码最多只能包含 {max_length} 个字符。',
  },
};

/**
 * Verbose names of the default user attributes (Django's field verbose_name). The English one is
 * what goes into the message id; the id also names the attribute, so other languages can look
 * their own wording up here instead of showing English inside a translated sentence.
 */
export const passwordAttributeVerboseNames: Record<PasswordMessageLocale, Record<string, string>> = {
  en: {
    username: 'username',
    first_name: 'first name',
    last_name: 'last name',
    email: 'email address',
  },
  'zh-CN': {
    username: '用户名',
    first_name: '名字',
    last_name: '姓氏',
    email: '电子邮件地址',
  },
};

/** Ids are split on '|' and '='; a value containing either would corrupt its neighbours. */
export function messageParam(value: string | number): string {
  return String(value).replace(/[|=]/g, '_');
}

export function passwordMessageId(key: string, params: Record<string, string | number> = {}): string {
  return [key, ...Object.entries(params).map(([name, value]) => `${name}=${messageParam(value)}`)].join('|');
}

export function parsePasswordMessageId(id: string): { key: string; params: Record<string, string> } {
  const [key = '', ...args] = id.split('|');
  const params: Record<string, string> = {};
  for (const arg of args) {
    const at = arg.indexOf('=');
    if (at > 0) params[arg.slice(0, at)] = arg.slice(at + 1);
  }
  return { key, params };
}

/** Renders an id in `locale`, translating the attribute's verbose name; unknown ids come back unchanged. */
export function formatPasswordValidationMessage(id: string, locale: PasswordMessageLocale = 'en'): string {
  const { key, params } = parsePasswordMessageId(id);
  const template = passwordValidationMessages[locale][key] ?? passwordValidationMessages.en[key];
  if (template === undefined) return id;
  const attribute = params.attribute;
  if (attribute !== undefined) {
    const localized = passwordAttributeVerboseNames[locale][attribute];
    if (localized !== undefined) params.verbose_name = localized;
  }
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => params[name] ?? whole);
}
