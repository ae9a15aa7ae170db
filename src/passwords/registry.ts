import { availableParallelism } from 'node:os';
import { getRandomString, MAX_PASSWORD_LENGTH, PasswordTooLongError, type HasherOptions, type PasswordHasher } from './base.js';
import { Limiter } from './limiter.js';
import { Argon2PasswordHasher } from './hashers/argon2.js';
import { BCryptPasswordHasher, BCryptSHA256PasswordHasher } from './hashers/bcrypt.js';
import { MD5PasswordHasher } from './hashers/md5.js';
import { PBKDF2PasswordHasher, PBKDF2SHA1PasswordHasher } from './hashers/pbkdf2.js';
import { ScryptPasswordHasher } from './hashers/scrypt.js';
import { SHA1PasswordHasher } from './hashers/sha1.js';
import { UnsaltedMD5PasswordHasher } from './hashers/unsalted-md5.js';
import { UnsaltedSHA1PasswordHasher } from './hashers/unsalted-sha1.js';

export const UNUSABLE_PASSWORD_PREFIX = '!';
const UNUSABLE_PASSWORD_SUFFIX_LENGTH = 40;

/** Django's PASSWORD_HASHERS order, with the stronger argon2 first. */
export const DEFAULT_HASHERS: string[] = [
  'argon2',
  'pbkdf2_sha256',
  'pbkdf2_sha1',
  'scrypt',
  'bcrypt_sha256',
  'bcrypt',
  'md5',
  'sha1',
  'unsalted_md5',
  'unsalted_sha1',
];

const FACTORIES: Record<string, (options: HasherOptions) => PasswordHasher> = {
  argon2: (o) => new Argon2PasswordHasher(o),
  pbkdf2_sha256: (o) => new PBKDF2PasswordHasher(o),
  pbkdf2_sha1: (o) => new PBKDF2SHA1PasswordHasher(o),
  scrypt: (o) => new ScryptPasswordHasher(o),
  bcrypt_sha256: (o) => new BCryptSHA256PasswordHasher(o),
  bcrypt: (o) => new BCryptPasswordHasher(o),
  md5: () => new MD5PasswordHasher(),
  sha1: () => new SHA1PasswordHasher(),
  unsalted_md5: () => new UnsaltedMD5PasswordHasher(),
  unsalted_sha1: () => new UnsaltedSHA1PasswordHasher(),
};

export function createHasher(name: string, options: HasherOptions = {}): PasswordHasher {
  const factory = Object.hasOwn(FACTORIES, name) ? FACTORIES[name] : undefined;
  if (!factory) throw new Error(`Unknown password hashing algorithm "${name}". Known: ${Object.keys(FACTORIES).join(', ')}.`);
  return factory(options);
}

export function makeUnusablePassword(): string {
  return UNUSABLE_PASSWORD_PREFIX + getRandomString(UNUSABLE_PASSWORD_SUFFIX_LENGTH);
}

/** Unlike modern Django (where None counts as usable), a missing password is treated as unusable. */
export function isPasswordUsable(encoded: string | null | undefined): boolean {
  return typeof encoded === 'string' && !encoded.startsWith(UNUSABLE_PASSWORD_PREFIX);
}

/** Django's identify_hasher, returning the algorithm name rather than the hasher. */
export function identifyAlgorithm(encoded: string): string {
  // Ancient Django stored bare MD5 digests and accepted MD5/SHA1 with an empty salt.
  if ((encoded.length === 32 && !encoded.includes('$')) || (encoded.length === 37 && encoded.startsWith('md5$$'))) {
    return 'unsalted_md5';
  }
  if (encoded.length === 46 && encoded.startsWith('sha1$$')) return 'unsalted_sha1';
  const i = encoded.indexOf('$');
  return i < 0 ? encoded : encoded.slice(0, i);
}

function checkLength(password: string): void {
  if (password.length > MAX_PASSWORD_LENGTH) throw new PasswordTooLongError();
}

export interface PasswordHashersOptions {
  /** Hash computations allowed at once across this registry (default: defaultHashConcurrency()). */
  maxConcurrent?: number;
}

/**
 * One hash per core but one: the event loop keeps a core of its own, so a storm of logins (or of
 * guesses) slows other logins down but not every other request. On one core, one hash at a time.
 */
export function defaultHashConcurrency(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** What a hash computation was for: a new hash, a check, or the extra work of harden_runtime. */
export type HashOperation = 'hash' | 'verify' | 'harden';

/** Told how long each hash computation took, once it has its turn (the metrics' hash time). */
export type HashTimer = (operation: HashOperation, algorithm: string, seconds: number) => void;

/** Django's PASSWORD_HASHERS: the first hasher hashes new passwords, every one of them verifies. */
export class PasswordHashers {
  readonly preferred: PasswordHasher;
  readonly limiter: Limiter;
  /** Null (the default) times nothing. */
  timer: HashTimer | null = null;
  private readonly byAlgorithm = new Map<string, PasswordHasher>();

  constructor(hashers: PasswordHasher[], options: PasswordHashersOptions = {}) {
    const [first] = hashers;
    if (!first) throw new Error('At least one password hasher is required.');
    for (const h of hashers) {
      if (this.byAlgorithm.has(h.algorithm)) throw new Error(`Password hasher "${h.algorithm}" is listed twice.`);
      this.byAlgorithm.set(h.algorithm, h);
    }
    this.preferred = first;
    this.limiter = new Limiter(options.maxConcurrent ?? defaultHashConcurrency());
  }

  get algorithms(): string[] {
    return [...this.byAlgorithm.keys()];
  }

  get(algorithm: string): PasswordHasher {
    const hasher = this.byAlgorithm.get(algorithm);
    if (!hasher) throw new Error(`Unknown password hashing algorithm "${algorithm}". Is it in the configured hashers?`);
    return hasher;
  }

  identifyHasher(encoded: string): PasswordHasher {
    return this.get(identifyAlgorithm(encoded));
  }

  isPasswordUsable(encoded: string | null | undefined): boolean {
    return isPasswordUsable(encoded);
  }

  async makePassword(password: string | null, options: { algorithm?: string; salt?: string } = {}): Promise<string> {
    if (password === null) return makeUnusablePassword();
    if (typeof password !== 'string') throw new TypeError('Password must be a string or null.');
    checkLength(password);
    const hasher = options.algorithm === undefined ? this.preferred : this.get(options.algorithm);
    // Django: `salt or hasher.salt()`, so an empty salt means "generate one".
    const salt = options.salt || undefined;
    return this.limited(hasher, 'hash', () => hasher.encode(password, salt));
  }

  /**
   * Django's check_password: false for missing, unusable or unknown hashes. A correct password whose
   * hash is outdated (other algorithm or parameters) is handed to `setter` for re-hashing; a wrong one
   * against a cheaper hash of the preferred algorithm costs the full current price (harden_runtime).
   */
  async checkPassword(
    password: string,
    encoded: string | null | undefined,
    setter?: (password: string) => Promise<void> | void,
  ): Promise<boolean> {
    if (typeof password !== 'string') return false;
    checkLength(password);
    if (!isPasswordUsable(encoded)) return false;
    const stored = encoded as string;
    const hasher = this.byAlgorithm.get(identifyAlgorithm(stored));
    if (!hasher) return false;
    const hasherChanged = hasher.algorithm !== this.preferred.algorithm;
    let mustUpdate: boolean;
    try {
      mustUpdate = hasherChanged || this.preferred.mustUpdate(stored);
    } catch {
      // The preferred hasher cannot even parse it, so no password can match it.
      return false;
    }
    const isCorrect = await this.limited(hasher, 'verify', () => hasher.verify(password, stored));
    if (!isCorrect && !hasherChanged && mustUpdate) {
      await this.limited(hasher, 'harden', () => hasher.hardenRuntime(password, stored));
    }
    // Outside the limiter: the setter usually calls makePassword, which needs a slot of its own.
    if (setter && isCorrect && mustUpdate) await setter(password);
    return isCorrect;
  }

  private limited<T>(hasher: PasswordHasher, operation: HashOperation, task: () => Promise<T>): Promise<T> {
    const timer = this.timer;
    // Timed inside the limiter: the hash's own cost, not its wait for a turn.
    const run = timer === null ? task : () => timed(timer, operation, hasher.algorithm, task);
    return hasher.cheap ? run() : this.limiter.run(run);
  }
}

async function timed<T>(timer: HashTimer, operation: HashOperation, algorithm: string, task: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await task();
  } finally {
    timer(operation, algorithm, (performance.now() - start) / 1000);
  }
}

export interface CreatePasswordHashersOptions extends PasswordHashersOptions {
  /** Options for hashers named by string, keyed by algorithm, e.g. `{ argon2: { memoryCost: 65536 } }`. */
  hasherOptions?: Record<string, HasherOptions>;
}

export function createPasswordHashers(
  names: Array<string | PasswordHasher> = DEFAULT_HASHERS,
  options: CreatePasswordHashersOptions = {},
): PasswordHashers {
  const hashers = names.map((n) => (typeof n === 'string' ? createHasher(n, options.hasherOptions?.[n]) : n));
  return new PasswordHashers(hashers, { maxConcurrent: options.maxConcurrent });
}
