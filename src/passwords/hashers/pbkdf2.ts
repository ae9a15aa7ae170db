import { pbkdf2 } from 'node:crypto';
import { promisify } from 'node:util';
import {
  checkSalt,
  constantTimeEqual,
  MalformedHashError,
  maskHash,
  mustUpdateSalt,
  parsePositiveInt,
  passwordBytes,
  positiveIntOption,
  randomSalt,
  splitN,
  type HasherOptions,
  type PasswordHasher,
} from '../base.js';

const pbkdf2Async = promisify(pbkdf2);

interface Decoded {
  algorithm: string;
  iterations: number;
  salt: string;
  hash: string;
}

/** `pbkdf2_sha256$<iterations>$<salt>$<base64>`; the key length is the digest size, as in Django. */
export class PBKDF2PasswordHasher implements PasswordHasher {
  readonly iterations: number;

  constructor(
    options: HasherOptions = {},
    readonly algorithm = 'pbkdf2_sha256',
    private readonly digest = 'sha256',
    private readonly keyLength = 32,
  ) {
    this.iterations = positiveIntOption('iterations', options.iterations, 1_000_000);
  }

  /** `iterations` overrides the configured count, as Django's encode(password, salt, iterations). */
  async encode(password: string, salt = randomSalt(), iterations = this.iterations): Promise<string> {
    checkSalt(salt);
    const key = await pbkdf2Async(passwordBytes(password), Buffer.from(salt, 'utf8'), iterations, this.keyLength, this.digest);
    return `${this.algorithm}$${iterations}$${salt}$${key.toString('base64')}`;
  }

  decode(encoded: string): Decoded {
    const [algorithm, iterations, salt, hash] = splitN(encoded, '$', 3);
    if (algorithm !== this.algorithm || salt === undefined || hash === undefined) throw new MalformedHashError(this.algorithm);
    return { algorithm, iterations: parsePositiveInt(iterations, this.algorithm), salt, hash };
  }

  async verify(password: string, encoded: string): Promise<boolean> {
    let decoded: Decoded;
    try {
      decoded = this.decode(encoded);
      checkSalt(decoded.salt);
    } catch {
      return false;
    }
    return constantTimeEqual(encoded, await this.encode(password, decoded.salt, decoded.iterations));
  }

  mustUpdate(encoded: string): boolean {
    const decoded = this.decode(encoded);
    return decoded.iterations !== this.iterations || mustUpdateSalt(decoded.salt);
  }

  /** Runs the iterations an older, cheaper hash skipped, so a failed login costs what a current one does. */
  async hardenRuntime(password: string, encoded: string): Promise<void> {
    const decoded = this.decode(encoded);
    const extra = this.iterations - decoded.iterations;
    if (extra > 0) await this.encode(password, decoded.salt, extra);
  }

  safeSummary(encoded: string): Record<string, string> {
    const d = this.decode(encoded);
    return { algorithm: d.algorithm, iterations: String(d.iterations), salt: maskHash(d.salt), hash: maskHash(d.hash) };
  }
}

/** Django keeps SHA-1 PBKDF2 for hashes made before SHA-256 became the default. */
export class PBKDF2SHA1PasswordHasher extends PBKDF2PasswordHasher {
  constructor(options: HasherOptions = {}) {
    super(options, 'pbkdf2_sha1', 'sha1', 20);
  }
}
