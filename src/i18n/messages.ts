import type { ErrorCode } from '../errors.js';
import { formatPasswordValidationMessage, passwordValidationMessages } from '../validation/messages.js';

export type Locale = 'en' | 'zh-CN';

const errorMessages: Record<Locale, Record<ErrorCode, string>> = {
  en: {
    validation_error: 'Some fields are not valid.',
    missing_credentials: 'Both a username and a password are required.',
    invalid_credentials: 'The username or password is not correct.',
    not_authenticated: 'You are not logged in.',
    csrf_failed: 'This request came from an origin that is not trusted.',
    permission_denied: 'You do not have permission to do this.',
    not_found: 'Not found.',
    conflict: 'This value is already taken.',
    payload_too_large: 'The request body is too large.',
    unsupported_media_type: 'The request body must be JSON (Content-Type: application/json).',
    throttled: 'Too many attempts. Try again later.',
    service_unavailable: 'The service is temporarily unavailable. Try again shortly.',
  },
  'zh-CN': {
    validation_error: '部分字段无效。',
    missing_credentials: '用户名和密码都是必填项。',
    invalid_credentials: '用户名或密码不正确。',
    not_authenticated: '您尚未登录。',
    csrf_failed: '此请求来自不受信任的来源。',
    permission_denied: '您没有执行此操作的权限。',
    not_found: '未找到。',
    conflict: '该值已被占用。',
    payload_too_large: '请求体过大。',
    unsupported_media_type: '请求体必须是 JSON（Content-Type: application/json）。',
    throttled: '尝试次数过多，请稍后再试。',
    service_unavailable: '服务暂时不可用，请稍后再试。',
  },
};

/** Field-level messages, keyed by a stable id so both languages stay in step. */
const fieldMessages: Record<Locale, Record<string, string>> = {
  en: {
    required: 'This field is required.',
    invalid_type: 'This field has the wrong type.',
    null_character: 'Null characters are not allowed.',
    username_invalid:
      'Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.',
    username_taken: 'A user with that username already exists.',
    email_invalid: 'Enter a valid email address.',
    email_taken: 'A user with that email already exists.',
    phone_invalid: 'Enter a valid phone number.',
    phone_taken: 'A user with that phone number already exists.',
    field_taken: 'This value is already taken.',
    too_long: 'Ensure this value has at most {max} characters.',
    password_too_long: 'The password may have at most 4096 characters.',
    password_incorrect: 'Your old password was entered incorrectly.',
    password_mismatch: 'The two password fields didn’t match.',
    unknown_field: 'This field is not allowed.',
    reauth_required: 'Enter your password again to do this.',
    reset_token_invalid: 'The password reset link was invalid, possibly because it has already been used or has expired.',
    invalid_group: 'A group name is 1 to 150 characters.',
    invalid_permission: 'A permission is named app_label.codename.',
    invalid_json: 'The request body is not valid JSON.',
    invalid_utf8: 'The request body is not valid UTF-8.',
  },
  'zh-CN': {
    required: '此字段为必填项。',
    invalid_type: '此字段类型错误。',
    null_character: '不允许包含空字符。',
    username_invalid: '请输入有效的用户名。只能包含字母、数字和 @/./+/-/_ 字符。',
    username_taken: '该用户名已存在。',
    email_invalid: '请输入有效的电子邮件地址。',
    email_taken: '该电子邮件已被使用。',
    phone_invalid: '请输入有效的手机号码。',
    phone_taken: '该手机号码已被使用。',
    field_taken: '该值已被占用。',
    too_long: '请确保此值最多 {max} 个字符。',
    password_too_long: '密码最多 4096 个字符。',
    password_incorrect: '旧密码输入错误。',
    password_mismatch: '两次输入的密码不一致。',
    unknown_field: '不允许此字段。',
    reauth_required: '请重新输入密码以执行此操作。',
    reset_token_invalid: '密码重置链接无效，可能已被使用或已过期。',
    invalid_group: '组名须为 1 到 150 个字符。',
    invalid_permission: '权限名称的格式为 app_label.codename。',
    invalid_json: '请求体不是有效的 JSON。',
    invalid_utf8: '请求体不是有效的 UTF-8。',
  },
};

export function pickLocale(acceptLanguage: string | undefined): Locale {
  if (!acceptLanguage) return 'en';
  const ranked = acceptLanguage
    .split(',')
    .map((part) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.find((p) => p.trim().startsWith('q='));
      return { tag: tag.trim().toLowerCase(), q: q ? Number(q.trim().slice(2)) || 0 : 1 };
    })
    .sort((a, b) => b.q - a.q);
  for (const { tag } of ranked) {
    if (tag.startsWith('zh')) return 'zh-CN';
    if (tag.startsWith('en')) return 'en';
  }
  return 'en';
}

export function errorMessage(code: ErrorCode, locale: Locale): string {
  return errorMessages[locale][code];
}

/** A field message id is `key` or `key|param=value`; unknown ids are shown as they are. */
export function fieldMessage(id: string, locale: Locale): string {
  const [key = '', ...args] = id.split('|');
  if (key in passwordValidationMessages.en) return formatPasswordValidationMessage(id, locale);
  const template = fieldMessages[locale][key] ?? fieldMessages.en[key];
  if (!template) return id;
  return args.reduce((text, arg) => {
    const [name, value] = arg.split('=');
    return text.replace(`{${name}}`, value ?? '');
  }, template);
}
