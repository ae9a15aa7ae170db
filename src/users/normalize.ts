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

/**
 * The one normal form in which login identifiers are compared: what the login looks up, what the
 * throttle counts under and what must be unique across accounts (one identifier names one account).
 * Compatibility and width forms fold (NFKC), letter case folds the Unicode way (not SQL's ASCII-only
 * `lower()`), and white space goes wherever it is (no valid username, email or phone contains any).
 */
export function loginKey(identifier: string): string {
  return identifier.normalize('NFKC').replace(/\s+/gu, '').toLowerCase().normalize('NFKC');
}
