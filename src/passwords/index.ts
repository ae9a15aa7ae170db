/** `portcullis/passwords`: Django-compatible password hashing (django.contrib.auth.hashers). */
import { createPasswordHashers, type PasswordHashers } from './registry.js';
import type { PasswordHasher } from './base.js';

export {
  MAX_PASSWORD_LENGTH,
  MalformedHashError,
  PasswordTooLongError,
  type HasherOptions,
  type PasswordHasher,
} from './base.js';
export { Limiter } from './limiter.js';
export {
  createHasher,
  createPasswordHashers,
  DEFAULT_HASHERS,
  identifyAlgorithm,
  isPasswordUsable,
  makeUnusablePassword,
  PasswordHashers,
  UNUSABLE_PASSWORD_PREFIX,
  type CreatePasswordHashersOptions,
  type HashOperation,
  type HashTimer,
  type PasswordHashersOptions,
} from './registry.js';
export { Argon2PasswordHasher } from './hashers/argon2.js';
export { BCryptPasswordHasher, BCryptSHA256PasswordHasher } from './hashers/bcrypt.js';
export { MD5PasswordHasher } from './hashers/md5.js';
export { PBKDF2PasswordHasher, PBKDF2SHA1PasswordHasher } from './hashers/pbkdf2.js';
export { ScryptPasswordHasher } from './hashers/scrypt.js';
export { SHA1PasswordHasher } from './hashers/sha1.js';
export { UnsaltedMD5PasswordHasher } from './hashers/unsalted-md5.js';
export { UnsaltedSHA1PasswordHasher } from './hashers/unsalted-sha1.js';

// Created on first use so importing the module costs nothing and an app can install its own first.
let defaultHashers: PasswordHashers | undefined;

function defaults(): PasswordHashers {
  return (defaultHashers ??= createPasswordHashers());
}

export function setDefaultPasswordHashers(hashers: PasswordHashers): void {
  defaultHashers = hashers;
}

export function getDefaultPasswordHashers(): PasswordHashers {
  return defaults();
}

export function makePassword(password: string | null, options?: { algorithm?: string; salt?: string }): Promise<string> {
  return defaults().makePassword(password, options);
}

export function checkPassword(
  password: string,
  encoded: string | null | undefined,
  setter?: (password: string) => Promise<void> | void,
): Promise<boolean> {
  return defaults().checkPassword(password, encoded, setter);
}

export function identifyHasher(encoded: string): PasswordHasher {
  return defaults().identifyHasher(encoded);
}
