import { createHash } from 'node:crypto';
import { constantTimeEqual, MalformedHashError, maskHash, passwordBytes, refuseSalt, type PasswordHasher } from '../base.js';

const PREFIX = 'sha1$$';

/** `sha1$$<hex>`: SHA-1 with an empty salt, as ancient Django accepted. Verify-and-upgrade only. */
export class UnsaltedSHA1PasswordHasher implements PasswordHasher {
  readonly algorithm = 'unsalted_sha1';
  readonly cheap = true;

  async encode(password: string, salt?: string): Promise<string> {
    refuseSalt(salt);
    return PREFIX + createHash('sha1').update(passwordBytes(password)).digest('hex');
  }

  async verify(password: string, encoded: string): Promise<boolean> {
    return constantTimeEqual(encoded, await this.encode(password));
  }

  mustUpdate(): boolean {
    return false;
  }

  async hardenRuntime(): Promise<void> {}

  safeSummary(encoded: string): Record<string, string> {
    if (!encoded.startsWith(PREFIX)) throw new MalformedHashError(this.algorithm);
    return { algorithm: this.algorithm, hash: maskHash(encoded.slice(PREFIX.length), 3) };
  }
}
