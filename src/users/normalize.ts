/**
 * Django's username rules: NFKC-normalised so that look-alike code points cannot register twice,
 * then `^[\w.@+-]+$` with Unicode letters and digits allowed (UnicodeUsernameValidator).
 */
const USERNAME = /^[\p{L}\p{N}_.@+-]+$/u;
export const USERNAME_MAX_LENGTH = 150;

export function normalizeUsername(username: string): string {
  return username.normalize('NFKC');
}

export function isValidUsername(username: string): boolean {
  return username.length > 0 && username.length <= USERNAME_MAX_LENGTH && USERNAME.test(username);
}

/** Lower-cases the domain part only, as Django's BaseUserManager.normalize_email does. */
export function normalizeEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 0) return email.trim();
  return email.slice(0, at).trim() + '@' + email.slice(at + 1).trim().toLowerCase();
}

// Deliberately loose, like Django's EmailValidator in spirit: one @, a dotted domain, no spaces.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/u;

export function isValidEmail(email: string): boolean {
  return email.length <= 254 && EMAIL.test(email);
}
