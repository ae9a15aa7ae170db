import { hashRaw, type Algorithm, type Version } from '@node-rs/argon2';
import {
  constantTimeEqual,
  MalformedHashError,
  maskHash,
  mustUpdateSalt,
  passwordBytes,
  positiveIntOption,
  randomSalt,
  type HasherOptions,
  type PasswordHasher,
} from '../base.js';

// The binding's enums are `const enum` declarations; spelling the values out keeps per-file transpilers working.
const VARIETIES: Record<string, Algorithm> = { argon2d: 0 as Algorithm, argon2i: 1 as Algorithm, argon2id: 2 as Algorithm };
const VERSIONS: Record<number, Version> = { 16: 0 as Version, 19: 1 as Version };
const B64 = /^[A-Za-z0-9+/]+$/;

interface Decoded {
  algorithm: string;
  variety: string;
  version: number;
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  salt: Buffer;
  hash: string;
  hashBytes: Buffer;
}

function b64(buf: Buffer): string {
  return buf.toString('base64').replace(/=+$/, '');
}

/**
 * `argon2$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>` (base64 without padding). Verification re-derives the
 * raw hash from the stored parameters, so argon2i/argon2d, version 0x10 hashes without `v=` and any
 * hash length all verify, not just what this hasher currently writes.
 */
export class Argon2PasswordHasher implements PasswordHasher {
  readonly algorithm = 'argon2';
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
  readonly hashLength: number;

  constructor(options: HasherOptions = {}) {
    this.memoryCost = positiveIntOption('memoryCost', options.memoryCost, 19456);
    this.timeCost = positiveIntOption('timeCost', options.timeCost, 2);
    this.parallelism = positiveIntOption('parallelism', options.parallelism, 1);
    this.hashLength = positiveIntOption('hashLength', options.hashLength, 32);
  }

  async encode(password: string, salt = randomSalt()): Promise<string> {
    if (!salt) throw new TypeError('salt must be provided.');
    const saltBytes = Buffer.from(salt, 'utf8');
    const hash = await this.derive(password, {
      variety: 'argon2id',
      version: 19,
      memoryCost: this.memoryCost,
      timeCost: this.timeCost,
      parallelism: this.parallelism,
      salt: saltBytes,
      length: this.hashLength,
    });
    const params = `m=${this.memoryCost},t=${this.timeCost},p=${this.parallelism}`;
    return `${this.algorithm}$argon2id$v=19$${params}$${b64(saltBytes)}$${b64(hash)}`;
  }

  decode(encoded: string): Decoded {
    const parts = encoded.split('$');
    // The version field is absent from hashes made by argon2 before 1.3 (version 0x10).
    if (parts.length === 5) parts.splice(2, 0, 'v=16');
    const [algorithm, variety, v, params, salt, hash] = parts;
    const version = /^v=(16|19)$/.exec(v ?? '')?.[1];
    const costs = /^m=([1-9]\d{0,9}),t=([1-9]\d{0,9}),p=([1-9]\d{0,2})$/.exec(params ?? '');
    if (
      parts.length !== 6 || algorithm !== this.algorithm || !variety || !(variety in VARIETIES) ||
      !version || !costs || !salt || !hash || !B64.test(salt) || !B64.test(hash)
    ) {
      throw new MalformedHashError(this.algorithm);
    }
    return {
      algorithm,
      variety,
      version: Number(version),
      memoryCost: Number(costs[1]),
      timeCost: Number(costs[2]),
      parallelism: Number(costs[3]),
      salt: Buffer.from(salt, 'base64'),
      hash,
      hashBytes: Buffer.from(hash, 'base64'),
    };
  }

  async verify(password: string, encoded: string): Promise<boolean> {
    let d: Decoded;
    try {
      d = this.decode(encoded);
    } catch {
      return false;
    }
    const bytes = passwordBytes(password);
    let recomputed: Buffer;
    try {
      recomputed = await this.derive(bytes, { ...d, length: d.hashBytes.length });
    } catch {
      // Parameters libargon2 refuses (salt under 8 bytes, m < 8·p, …) cannot match any password.
      return false;
    }
    return constantTimeEqual(recomputed, d.hashBytes);
  }

  mustUpdate(encoded: string): boolean {
    const d = this.decode(encoded);
    return (
      d.variety !== 'argon2id' ||
      d.version !== 19 ||
      d.memoryCost !== this.memoryCost ||
      d.timeCost !== this.timeCost ||
      d.parallelism !== this.parallelism ||
      d.hashBytes.length !== this.hashLength ||
      // Django measures the salt as latin-1 text, i.e. one character per byte.
      mustUpdateSalt(d.salt.toString('latin1'))
    );
  }

  async hardenRuntime(): Promise<void> {
    // As in Django: argon2's runtime depends on three parameters; there is no sensible top-up.
  }

  safeSummary(encoded: string): Record<string, string> {
    const d = this.decode(encoded);
    return {
      algorithm: d.algorithm,
      variety: d.variety,
      version: String(d.version),
      'memory cost': String(d.memoryCost),
      'time cost': String(d.timeCost),
      parallelism: String(d.parallelism),
      salt: maskHash(d.salt.toString('latin1')),
      hash: maskHash(d.hash),
    };
  }

  private derive(
    password: string | Buffer,
    p: { variety: string; version: number; memoryCost: number; timeCost: number; parallelism: number; salt: Buffer; length: number },
  ): Promise<Buffer> {
    return hashRaw(typeof password === 'string' ? passwordBytes(password) : password, {
      algorithm: VARIETIES[p.variety],
      version: VERSIONS[p.version],
      memoryCost: p.memoryCost,
      timeCost: p.timeCost,
      parallelism: p.parallelism,
      outputLen: p.length,
      salt: p.salt,
    });
  }
}
