import { randomInt, timingSafeEqual } from 'node:crypto';

/** Longest password (in UTF-16 code units, like `String.length`) any hasher will touch. */
export const MAX_PASSWORD_LENGTH = 4096;

/** Raised before any hashing so callers can answer with a validation error instead of burning CPU. */
export class PasswordTooLongError extends Error {
  constructor(readonly maxLength = MAX_PASSWORD_LENGTH) {
    super(`password is longer than ${maxLength} characters`);
    this.name = 'PasswordTooLongError';
  }
}

export interface PasswordHasher {
  readonly algorithm: string;
  /**
   * True for digests so cheap that queueing them behind the concurrency limiter would cost more
   * than it saves (md5/sha1); hashers without it are assumed expensive.
   */
  readonly cheap?: boolean;
  encode(password: string, salt?: string): Promise<string>;
  verify(password: string, encoded: string): Promise<boolean>;
  /** True when `encoded` was made with parameters other than the current configuration. */
  mustUpdate(encoded: string): boolean;
  /** Spends the work a wrong guess against an up-to-date hash would have cost (Django's harden_runtime). */
  hardenRuntime(password: string, encoded: string): Promise<void>;
  safeSummary(encoded: string): Record<string, string>;
}

/** Per-hasher tuning; each hasher reads only the fields that concern it. */
export interface HasherOptions {
  /** pbkdf2_sha256 / pbkdf2_sha1 */
  iterations?: number;
  /** argon2: KiB of memory */
  memoryCost?: number;
  /** argon2: passes */
  timeCost?: number;
  /** argon2 lanes, scrypt p */
  parallelism?: number;
  /** argon2: raw hash bytes */
  hashLength?: number;
  /** bcrypt / bcrypt_sha256: log2 work factor */
  rounds?: number;
  /** scrypt N */
  workFactor?: number;
  /** scrypt r */
  blockSize?: number;
  /** scrypt: memory ceiling in bytes handed to crypto.scrypt */
  maxmem?: number;
}

/** Thrown while parsing an encoded hash that does not belong to, or is malformed for, a hasher. */
export class MalformedHashError extends Error {
  constructor(algorithm: string) {
    super(`encoded password is not a valid ${algorithm} hash`);
    this.name = 'MalformedHashError';
  }
}

export const RANDOM_STRING_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Django's get_random_string: randomInt draws without modulo bias from the CSPRNG. */
export function getRandomString(length: number, chars = RANDOM_STRING_CHARS): string {
  let out = '';
  for (let i = 0; i < length; i++) out += chars[randomInt(chars.length)];
  return out;
}

// Django's salt_entropy = 128 bits over a 62-char alphabet → 22 characters.
const SALT_ENTROPY = 128;
const BITS_PER_CHAR = Math.log2(RANDOM_STRING_CHARS.length);

export function randomSalt(): string {
  return getRandomString(Math.ceil(SALT_ENTROPY / BITS_PER_CHAR));
}

/** Django's must_update_salt: salts from older releases carried less than 128 bits. */
export function mustUpdateSalt(salt: string): boolean {
  return salt.length * BITS_PER_CHAR < SALT_ENTROPY;
}

/** Django's _check_encode_args: `$` would break the field layout of the encoded string. */
export function checkSalt(salt: string): string {
  if (!salt || salt.includes('$')) throw new TypeError('salt must be provided and cannot contain $.');
  return salt;
}

/** Unsalted legacy hashers: a salt would silently be ignored, so refuse it. */
export function refuseSalt(salt: string | undefined): void {
  if (salt) throw new TypeError('salt must be empty.');
}

/** UTF-8 bytes of the password, as Django hashes them; refuses over-long input for direct hasher callers too. */
export function passwordBytes(password: string): Buffer {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
  if (password.length > MAX_PASSWORD_LENGTH) throw new PasswordTooLongError();
  return Buffer.from(password, 'utf8');
}

/** Constant time for equal lengths; a length mismatch only reveals the length, as hmac.compare_digest does. */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const x = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
  const y = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Django's mask_hash: enough of a value to tell two apart in an admin page, never enough to reuse. */
export function maskHash(value: string, show = 6, char = '*'): string {
  return value.slice(0, show) + char.repeat(Math.max(0, value.length - show));
}

/** Python's str.split(sep, maxsplit): the last piece keeps any further separators. */
export function splitN(s: string, sep: string, maxsplit: number): string[] {
  const parts: string[] = [];
  let rest = s;
  while (parts.length < maxsplit) {
    const i = rest.indexOf(sep);
    if (i < 0) break;
    parts.push(rest.slice(0, i));
    rest = rest.slice(i + sep.length);
  }
  parts.push(rest);
  return parts;
}

/** Strict decimal integer: Python's int() would also take '+5' or ' 5', which no Django hash contains. */
export function parsePositiveInt(s: string | undefined, algorithm: string): number {
  if (s === undefined || !/^[1-9][0-9]{0,9}$/.test(s)) throw new MalformedHashError(algorithm);
  return Number(s);
}

export function positiveIntOption(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer`);
  return v;
}
