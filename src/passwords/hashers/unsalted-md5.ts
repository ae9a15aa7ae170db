import { createHash } from 'node:crypto';
import { constantTimeEqual, maskHash, passwordBytes, refuseSalt, type PasswordHasher } from '../base.js';

const LEGACY_PREFIX = 'md5$$';

/** A bare 32-char hex MD5 (ancient Django), also accepted as `md5$$<hex>`. Verify-and-upgrade only. */
export class UnsaltedMD5PasswordHasher implements PasswordHasher {
  readonly algorithm = 'unsalted_md5';
  readonly cheap = true;

  async encode(password: string, salt?: string): Promise<string> {
    refuseSalt(salt);
    return createHash('md5').update(passwordBytes(password)).digest('hex');
  }

  async verify(password: string, encoded: string): Promise<boolean> {
    const bare = encoded.length === 37 && encoded.startsWith(LEGACY_PREFIX) ? encoded.slice(LEGACY_PREFIX.length) : encoded;
    return constantTimeEqual(bare, await this.encode(password));
  }

  mustUpdate(): boolean {
    return false;
  }

  async hardenRuntime(): Promise<void> {}

  safeSummary(encoded: string): Record<string, string> {
    const bare = encoded.startsWith(LEGACY_PREFIX) ? encoded.slice(LEGACY_PREFIX.length) : encoded;
    return { algorithm: this.algorithm, hash: maskHash(bare, 3) };
  }
}
