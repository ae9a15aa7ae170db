import { scrypt, type ScryptOptions } from 'node:crypto';
import {
  checkSalt,
  constantTimeEqual,
  MalformedHashError,
  maskHash,
  parsePositiveInt,
  passwordBytes,
  PasswordTooLongError,
  positiveIntOption,
  randomSalt,
  splitN,
  type HasherOptions,
  type PasswordHasher,
} from '../base.js';

const KEY_LENGTH = 64;
// Node's own default ceiling; raised below when the parameters need more.
const NODE_DEFAULT_MAXMEM = 32 * 1024 * 1024;

function scryptAsync(password: Buffer, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

interface Decoded {
  algorithm: string;
  workFactor: number;
  salt: string;
  blockSize: number;
  parallelism: number;
  hash: string;
}

/** `scrypt$<N>$<salt>$<r>$<p>$<base64 of 64 bytes>` */
export class ScryptPasswordHasher implements PasswordHasher {
  readonly algorithm = 'scrypt';
  readonly workFactor: number;
  readonly blockSize: number;
  readonly parallelism: number;
  private readonly maxmem: number | undefined;

  constructor(options: HasherOptions = {}) {
    this.workFactor = positiveIntOption('workFactor', options.workFactor, 2 ** 14);
    this.blockSize = positiveIntOption('blockSize', options.blockSize, 8);
    this.parallelism = positiveIntOption('parallelism', options.parallelism, 1);
    this.maxmem = options.maxmem;
  }

  async encode(password: string, salt = randomSalt(), n = this.workFactor, r = this.blockSize, p = this.parallelism): Promise<string> {
    checkSalt(salt);
    // scrypt needs 128·N·r bytes; the margin keeps Node from refusing parameters Django accepted.
    const maxmem = this.maxmem ?? Math.max(NODE_DEFAULT_MAXMEM, 2 * 128 * n * r * p);
    const key = await scryptAsync(passwordBytes(password), Buffer.from(salt, 'utf8'), { N: n, r, p, maxmem });
    return `${this.algorithm}$${n}$${salt}$${r}$${p}$${key.toString('base64')}`;
  }

  decode(encoded: string): Decoded {
    const [algorithm, n, salt, r, p, hash] = splitN(encoded, '$', 5);
    if (algorithm !== this.algorithm || salt === undefined || hash === undefined) throw new MalformedHashError(this.algorithm);
    return {
      algorithm,
      workFactor: parsePositiveInt(n, this.algorithm),
      salt,
      blockSize: parsePositiveInt(r, this.algorithm),
      parallelism: parsePositiveInt(p, this.algorithm),
      hash,
    };
  }

  async verify(password: string, encoded: string): Promise<boolean> {
    let d: Decoded;
    try {
      d = this.decode(encoded);
      checkSalt(d.salt);
    } catch {
      return false;
    }
    let recomputed: string;
    try {
      recomputed = await this.encode(password, d.salt, d.workFactor, d.blockSize, d.parallelism);
    } catch (err) {
      // Parameters OpenSSL rejects (N not a power of two, too much memory) cannot match any password.
      if (err instanceof PasswordTooLongError) throw err;
      return false;
    }
    return constantTimeEqual(encoded, recomputed);
  }

  mustUpdate(encoded: string): boolean {
    // Django checks only the cost parameters for scrypt, not the salt length.
    const d = this.decode(encoded);
    return d.workFactor !== this.workFactor || d.blockSize !== this.blockSize || d.parallelism !== this.parallelism;
  }

  async hardenRuntime(): Promise<void> {
    // As in Django: scrypt's cost is not linear in one parameter, so there is no sensible top-up.
  }

  safeSummary(encoded: string): Record<string, string> {
    const d = this.decode(encoded);
    return {
      algorithm: d.algorithm,
      'work factor': String(d.workFactor),
      'block size': String(d.blockSize),
      parallelism: String(d.parallelism),
      salt: maskHash(d.salt),
      hash: maskHash(d.hash),
    };
  }
}
