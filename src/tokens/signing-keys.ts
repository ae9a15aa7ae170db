import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { DatabaseHandle } from '../db/connect.js';
import { isUniqueViolation } from '../db/errors.js';

export const TOKEN_ALG = 'EdDSA';

interface LoadedKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  createdAt: number;
  retiredAt: number | null;
}

/**
 * The private half is sealed with AES-256-GCM under a key derived from the secret key, so a copy of
 * the database alone cannot mint tokens.
 */
function sealer(secret: string) {
  const key = createHash('sha256').update('portcullis.signing-key:' + secret).digest();
  return {
    seal(plain: string): string {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return [iv, cipher.getAuthTag(), body].map((b) => b.toString('base64url')).join('.');
    },
    open(sealed: string): string {
      const [iv = '', tag = '', body = ''] = sealed.split('.');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}

/** Without a change channel, the longest a running instance goes on signing with a rotated-out key. */
export const RELOAD_MS = 60_000;

/**
 * Ed25519 signing keys kept in the database: generated on first use, rotated on command, the retired
 * key still published (JWKS) until every token it signed has expired.
 */
export class SigningKeys {
  private keys: LoadedKey[] = [];
  private loadedAt = 0;
  /** Bumped by forget(): a load that began before it does not count as fresh. */
  private generation = 0;
  private readonly sealer: ReturnType<typeof sealer>;

  constructor(
    private readonly handle: DatabaseHandle,
    secret: string,
    private readonly accessTokenAgeMs: number,
  ) {
    this.sealer = sealer(secret);
  }

  private async load(): Promise<void> {
    const generation = this.generation;
    const rows = await this.handle.db.selectFrom('portcullis_signing_key').selectAll().orderBy('created_at', 'desc').execute();
    const keys: LoadedKey[] = [];
    for (const row of rows) {
      const privateJwk = JSON.parse(this.sealer.open(row.private_jwk)) as JWK;
      keys.push({
        kid: row.kid,
        privateKey: (await importJWK(privateJwk, row.alg)) as CryptoKey,
        publicJwk: JSON.parse(row.public_jwk) as JWK,
        createdAt: Number(row.created_at),
        retiredAt: row.retired_at === null ? null : Number(row.retired_at),
      });
    }
    this.keys = keys;
    this.loadedAt = generation === this.generation ? Date.now() : 0;
  }

  /** The table changed elsewhere (a rotation announced on the change channel): re-read it on next use. */
  forget(): void {
    this.generation++;
    this.loadedAt = 0;
  }

  private async create(now = Date.now()): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALG, { extractable: true });
    const kid = randomBytes(12).toString('base64url');
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALG, use: 'sig' };
    const privateJwk = await exportJWK(privateKey);
    await this.handle.db
      .insertInto('portcullis_signing_key')
      .values({ kid, alg: TOKEN_ALG, private_jwk: this.sealer.seal(JSON.stringify(privateJwk)), public_jwk: JSON.stringify(publicJwk), created_at: now, retired_at: null })
      .execute();
  }

  /** The key that signs new tokens: the newest one not retired. */
  async current(): Promise<LoadedKey> {
    // Another process may have rotated without a change channel to say so: re-read at most once a minute.
    if (!this.keys.length || Date.now() - this.loadedAt > RELOAD_MS) await this.load();
    let active = this.keys.find((k) => k.retiredAt === null);
    if (!active) {
      try {
        await this.create();
      } catch (err) {
        // Two instances starting at once: the other one's key is just as good.
        if (!isUniqueViolation(err)) throw err;
      }
      await this.load();
      active = this.keys.find((k) => k.retiredAt === null);
      if (!active) throw new Error('no signing key could be created');
    }
    return active;
  }

  /** The public key for a `kid`, re-reading the table once when the kid is unknown (a rotation elsewhere). */
  async verificationKey(kid: string): Promise<JWK | null> {
    let key = this.keys.find((k) => k.kid === kid);
    if (!key && Date.now() - this.loadedAt > 1000) {
      await this.load();
      key = this.keys.find((k) => k.kid === kid);
    }
    if (!key || !this.stillPublished(key)) return null;
    return key.publicJwk;
  }

  private stillPublished(key: LoadedKey, now = Date.now()): boolean {
    return key.retiredAt === null || key.retiredAt + this.accessTokenAgeMs > now;
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    await this.current();
    return { keys: this.keys.filter((k) => this.stillPublished(k)).map((k) => k.publicJwk) };
  }

  /** A new key signs from now on; the old one stays published until its tokens have expired. */
  async rotate(now = Date.now()): Promise<string> {
    await this.handle.db.updateTable('portcullis_signing_key').set({ retired_at: now }).where('retired_at', 'is', null).execute();
    await this.create(now + 1);
    await this.load();
    return (await this.current()).kid;
  }
}
