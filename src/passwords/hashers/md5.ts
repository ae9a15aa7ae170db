import { createHash } from 'node:crypto';
import {
  checkSalt,
  constantTimeEqual,
  MalformedHashError,
  maskHash,
  mustUpdateSalt,
  passwordBytes,
  randomSalt,
  splitN,
  type PasswordHasher,
} from '../base.js';

/**
 * `<algorithm>$<salt>$<hex digest of salt+password>`: Django's legacy salted digests. Far too fast to
 * resist offline cracking; kept so old hashes verify and get upgraded on the next login.
 */
export class SaltedDigestPasswordHasher implements PasswordHasher {
  readonly cheap = true;

  constructor(
    readonly algorithm: string,
    private readonly digest: string,
  ) {}

  async encode(password: string, salt = randomSalt()): Promise<string> {
    checkSalt(salt);
    const hex = createHash(this.digest).update(Buffer.from(salt, 'utf8')).update(passwordBytes(password)).digest('hex');
    return `${this.algorithm}$${salt}$${hex}`;
  }

  decode(encoded: string): { algorithm: string; salt: string; hash: string } {
    const [algorithm, salt, hash] = splitN(encoded, '$', 2);
    if (algorithm !== this.algorithm || salt === undefined || hash === undefined) throw new MalformedHashError(this.algorithm);
    return { algorithm, salt, hash };
  }

  async verify(password: string, encoded: string): Promise<boolean> {
    let salt: string;
    try {
      salt = checkSalt(this.decode(encoded).salt);
    } catch {
      return false;
    }
    return constantTimeEqual(encoded, await this.encode(password, salt));
  }

  mustUpdate(encoded: string): boolean {
    return mustUpdateSalt(this.decode(encoded).salt);
  }

  async hardenRuntime(): Promise<void> {}

  safeSummary(encoded: string): Record<string, string> {
    const d = this.decode(encoded);
    return { algorithm: d.algorithm, salt: maskHash(d.salt, 2), hash: maskHash(d.hash) };
  }
}

export class MD5PasswordHasher extends SaltedDigestPasswordHasher {
  constructor() {
    super('md5', 'md5');
  }
}
