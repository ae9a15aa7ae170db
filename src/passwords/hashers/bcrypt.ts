import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import {
  constantTimeEqual,
  MalformedHashError,
  maskHash,
  passwordBytes,
  positiveIntOption,
  splitN,
  type HasherOptions,
  type PasswordHasher,
} from '../base.js';

// `$2b$12$` plus 22 salt characters: what bcrypt itself calls the salt.
const BCRYPT_SALT_LENGTH = 29;

interface Decoded {
  algorithm: string;
  algostr: string;
  workFactor: number;
  salt: string;
  checksum: string;
}

/**
 * `bcrypt_sha256$$2b$12$…`: bcrypt over the hex SHA-256 of the password, so passwords longer than
 * bcrypt's 72-byte limit (and ones containing NUL) keep all their entropy. The salt, when given,
 * is a bcrypt salt string (`$2b$12$` + 22 chars), as Django's bcrypt.gensalt() produces.
 */
export class BCryptSHA256PasswordHasher implements PasswordHasher {
  readonly rounds: number;

  constructor(
    options: HasherOptions = {},
    readonly algorithm = 'bcrypt_sha256',
    private readonly prehash = true,
  ) {
    this.rounds = positiveIntOption('rounds', options.rounds, 12);
  }

  async encode(password: string, salt?: string): Promise<string> {
    const input = this.input(password);
    const data = await bcrypt.hash(input, salt ?? (await bcrypt.genSalt(this.rounds)));
    return `${this.algorithm}$${data}`;
  }

  decode(encoded: string): Decoded {
    const [algorithm, empty, algostr, workFactor, data] = splitN(encoded, '$', 4);
    if (algorithm !== this.algorithm || empty !== '' || !algostr || data === undefined || !/^\d{2}$/.test(workFactor ?? '')) {
      throw new MalformedHashError(this.algorithm);
    }
    return { algorithm, algostr, workFactor: Number(workFactor), salt: data.slice(0, 22), checksum: data.slice(22) };
  }

  async verify(password: string, encoded: string): Promise<boolean> {
    const [algorithm, data] = splitN(encoded, '$', 1);
    if (algorithm !== this.algorithm || data === undefined) return false;
    const input = this.input(password);
    let recomputed: string;
    try {
      recomputed = await bcrypt.hash(input, data.slice(0, BCRYPT_SALT_LENGTH));
    } catch {
      // A salt bcrypt cannot read is not a hash any password matches.
      return false;
    }
    // Only the checksum is compared: the library may normalise the prefix of a salt it was given.
    return data.length === recomputed.length && constantTimeEqual(recomputed.slice(BCRYPT_SALT_LENGTH), data.slice(BCRYPT_SALT_LENGTH));
  }

  mustUpdate(encoded: string): boolean {
    return this.decode(encoded).workFactor !== this.rounds;
  }

  /** Each round doubles bcrypt's work, so a cheaper hash is re-run 2^(difference) − 1 more times. */
  async hardenRuntime(password: string, encoded: string): Promise<void> {
    const { workFactor } = this.decode(encoded);
    const salt = splitN(encoded, '$', 1)[1]!.slice(0, BCRYPT_SALT_LENGTH);
    for (let diff = 2 ** (this.rounds - workFactor) - 1; diff > 0; diff--) {
      await this.encode(password, salt).catch(() => undefined);
    }
  }

  safeSummary(encoded: string): Record<string, string> {
    const d = this.decode(encoded);
    return { algorithm: d.algorithm, 'work factor': String(d.workFactor), salt: maskHash(d.salt), checksum: maskHash(d.checksum) };
  }

  /** What bcrypt hashes (bcryptjs takes a string and hashes its UTF-8 bytes, at most 72 of them). */
  private input(password: string): string {
    const bytes = passwordBytes(password);
    return this.prehash ? createHash('sha256').update(bytes).digest('hex') : bytes.toString('utf8');
  }
}

/**
 * Plain `bcrypt$$2b$12$…`. Like Django's BCryptPasswordHasher it silently ignores everything after
 * the first 72 bytes of the password; prefer bcrypt_sha256.
 */
export class BCryptPasswordHasher extends BCryptSHA256PasswordHasher {
  constructor(options: HasherOptions = {}) {
    super(options, 'bcrypt', false);
  }
}
