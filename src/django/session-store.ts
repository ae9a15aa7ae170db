import { createHash, randomInt } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { DatabaseHandle } from '../db/connect.js';
import type { DataPatch, SessionData, SessionRecord, SessionStore, UserSessionIndex } from '../sessions/base.js';
import { applyPatch } from '../sessions/sql.js';
import type { SessionKeyScheme } from '../sessions/keys.js';
import { BadSignature, dumps, loads } from './signing.js';
import { toEpochMs } from './source.js';

/** Django's own session table (django.contrib.sessions.models.Session). */
type DjangoSessionTables = {
  django_session: { session_key: string; session_data: string; expire_date: string | Date };
  auth_user: { id: number; password: string };
};

/** SessionBase.key_salt of django.contrib.sessions.backends.db.SessionStore. */
const KEY_SALT = 'django.contrib.sessions.SessionStore';
const DJANGO_MODEL_BACKEND = 'django.contrib.auth.backends.ModelBackend';
/** Django's backend paths and the portcullis backends that stand for them. */
const BACKENDS_FROM_DJANGO: Record<string, string> = {
  [DJANGO_MODEL_BACKEND]: 'model',
  'django.contrib.auth.backends.AllowAllUsersModelBackend': 'model',
};
const BACKENDS_TO_DJANGO: Record<string, string> = { model: DJANGO_MODEL_BACKEND };
// What portcullis keeps of a session beyond Django's keys; Django carries unknown keys along untouched.
const META = '_portcullis';
const AUTH_KEYS = new Set(['_auth_user_id', '_auth_user_backend', '_auth_user_hash', '_session_expiry', META]);
const VALID_KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';

interface Meta {
  pid?: string;
  c?: number;
  l?: number;
  ip?: string | null;
  ua?: string | null;
}

/**
 * Django's session keys: 32 characters of [a-z0-9] (about 165 bits), stored as they are, because
 * Django looks a session up by its key. This is the one store that keeps raw keys: the table is
 * shared with the Django app, whose format cannot change.
 */
export const djangoKeyScheme: SessionKeyScheme = {
  generate: () => Array.from({ length: 32 }, () => VALID_KEY_CHARS[randomInt(VALID_KEY_CHARS.length)]).join(''),
  // Django accepts any key of 8 characters or more that it issued; these are the characters it uses.
  isWellFormed: (key) => /^[a-z0-9]{8,40}$/.test(key),
  storageId: (key) => key,
};

/**
 * Sessions in Django's `django_session` table, in Django's format (signing.dumps, compressed, with
 * `_auth_user_id`, `_auth_user_backend` and `_auth_user_hash`), so that one login holds on both
 * apps while they run side by side (PORTCULLIS_SESSION_STORE=django).
 *
 * Django's rows say nothing of their user outside the signed blob, so the per-user operations
 * (list, revoke, end all, follow a password upgrade) decode every live row: O(live sessions), fine
 * for a migration period, not for millions of sessions.
 */
export class DjangoSessionStore implements SessionStore, UserSessionIndex {
  readonly name = 'django';
  readonly keyScheme = djangoKeyScheme;
  /** The Django app writes these rows too. */
  readonly writtenElsewhere = true;
  private readonly db: Kysely<DjangoSessionTables>;

  constructor(
    private readonly handle: DatabaseHandle,
    /** Django's SECRET_KEY: it signs the session data. */
    private readonly secret: string,
    private readonly sessionAgeMs: number,
    /** Whether closing the store closes the database (it has a connection of its own). */
    private readonly ownsHandle = false,
  ) {
    this.db = handle.db.withTables<DjangoSessionTables>() as unknown as Kysely<DjangoSessionTables>;
  }

  /** Creates `django_session` in Django's shape when this database has none yet. */
  async ensureTable(): Promise<void> {
    // Django's own column types: MySQL's datetime(6) keeps the microseconds a plain datetime drops.
    const type = this.handle.dialect === 'postgres' ? 'timestamp with time zone' : this.handle.dialect === 'mysql' ? 'datetime(6)' : 'datetime';
    await sql`create table if not exists django_session (session_key varchar(40) not null primary key, session_data text not null, expire_date ${sql.raw(type)} not null)`.execute(this.db);
    await sql`create index if not exists django_session_expire_date_a5c62663 on django_session (expire_date)`.execute(this.db);
  }

  /** The column value Django writes: naive UTC text on SQLite, a timestamp on PostgreSQL. */
  private toDate(ms: number): string | Date {
    if (this.handle.dialect === 'postgres') return new Date(ms);
    return new Date(ms).toISOString().replace('T', ' ').replace('Z', '000');
  }

  private encode(r: SessionRecord): string {
    const dict: Record<string, unknown> = { ...r.data };
    if (r.userId !== null) {
      dict._auth_user_id = String(r.userId);
      dict._auth_user_backend = (r.backend && BACKENDS_TO_DJANGO[r.backend]) ?? r.backend;
      dict._auth_user_hash = r.authHash;
    }
    // set_expiry(0): Django's spelling of "until the browser closes".
    if (!r.persistent) dict._session_expiry = 0;
    dict[META] = { pid: r.publicId, c: r.createdAt, l: r.lastSeenAt, ip: r.ip, ua: r.userAgent } satisfies Meta;
    return dumps(dict, this.secret, KEY_SALT);
  }

  private decode(key: string, text: string, expireDate: unknown): SessionRecord | null {
    let dict: Record<string, unknown>;
    try {
      dict = loads(text, this.secret, KEY_SALT) as Record<string, unknown>;
    } catch (err) {
      // Django treats tampered or undecodable data as an empty session; so do we.
      if (err instanceof BadSignature || err instanceof SyntaxError || (err as { code?: string }).code?.startsWith('Z_')) return null;
      throw err;
    }
    if (!dict || typeof dict !== 'object') return null;
    const meta = (dict[META] ?? {}) as Meta;
    const expiresAt = toEpochMs(expireDate) ?? 0;
    const rawUser = dict._auth_user_id;
    const userId = typeof rawUser === 'string' && /^\d+$/.test(rawUser) ? Number(rawUser) : typeof rawUser === 'number' ? rawUser : null;
    const backend = typeof dict._auth_user_backend === 'string' ? (BACKENDS_FROM_DJANGO[dict._auth_user_backend] ?? dict._auth_user_backend) : null;
    const data: SessionData = {};
    for (const [k, v] of Object.entries(dict)) if (!AUTH_KEYS.has(k)) data[k] = v;
    const createdAt = meta.c ?? expiresAt - this.sessionAgeMs;
    return {
      keyHash: key,
      // A session Django started has no public id of ours; one derived from the key is stable and reveals nothing.
      publicId: meta.pid ?? createHash('sha256').update(`django-session:${key}`).digest('base64url').slice(0, 16),
      userId,
      backend,
      authHash: typeof dict._auth_user_hash === 'string' ? dict._auth_user_hash : null,
      data,
      createdAt,
      lastSeenAt: meta.l ?? createdAt,
      expiresAt,
      persistent: dict._session_expiry !== 0,
      ip: meta.ip ?? null,
      userAgent: meta.ua ?? null,
    };
  }

  private async write(r: SessionRecord): Promise<void> {
    await this.db
      .updateTable('django_session')
      .set({ session_data: this.encode(r), expire_date: this.toDate(r.expiresAt) })
      .where('session_key', '=', r.keyHash)
      .execute();
  }

  async create(r: SessionRecord): Promise<void> {
    await this.db
      .insertInto('django_session')
      .values({ session_key: r.keyHash, session_data: this.encode(r), expire_date: this.toDate(r.expiresAt) })
      .execute();
  }

  async get(key: string, now: number): Promise<SessionRecord | null> {
    const row = await this.db
      .selectFrom('django_session')
      .selectAll()
      .where('session_key', '=', key)
      .where('expire_date', '>', this.toDate(now))
      .executeTakeFirst();
    return row ? this.decode(row.session_key, row.session_data, row.expire_date) : null;
  }

  async touch(key: string, lastSeenAt: number, expiresAt?: number): Promise<void> {
    const record = await this.get(key, 0);
    if (!record) return;
    record.lastSeenAt = lastSeenAt;
    if (expiresAt !== undefined) record.expiresAt = expiresAt;
    await this.write(record);
  }

  /** Read, patch, write back in one transaction (the row is locked on PostgreSQL). */
  async patchData(key: string, patch: DataPatch): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      let query = trx.selectFrom('django_session').selectAll().where('session_key', '=', key);
      // The row is held until the patch is written, so two patches of one session cannot lose each other's keys (SQLite serialises writers itself).
      if (this.handle.dialect !== 'sqlite') query = query.forUpdate();
      const row = await query.executeTakeFirst();
      const record = row && this.decode(row.session_key, row.session_data, row.expire_date);
      if (!record) return;
      record.data = applyPatch(record.data, patch);
      await trx.updateTable('django_session').set({ session_data: this.encode(record) }).where('session_key', '=', key).execute();
    });
  }

  async setExpiry(key: string, expiresAt: number, persistent: boolean): Promise<void> {
    const record = await this.get(key, 0);
    if (!record) return;
    record.expiresAt = expiresAt;
    record.persistent = persistent;
    await this.write(record);
  }

  async delete(key: string): Promise<void> {
    await this.db.deleteFrom('django_session').where('session_key', '=', key).execute();
  }

  /** Every live session of one user, found by decoding the live rows a page at a time. */
  private async scanUser(userId: number, now: number): Promise<SessionRecord[]> {
    const found: SessionRecord[] = [];
    let after = '';
    for (;;) {
      const rows = await this.db
        .selectFrom('django_session')
        .selectAll()
        .where('session_key', '>', after)
        .where('expire_date', '>', this.toDate(now))
        .orderBy('session_key')
        .limit(1000)
        .execute();
      if (!rows.length) return found;
      for (const row of rows) {
        const record = this.decode(row.session_key, row.session_data, row.expire_date);
        if (record?.userId === userId) found.push(record);
      }
      after = rows[rows.length - 1]!.session_key;
    }
  }

  async deleteByPublicId(userId: number, publicId: string): Promise<boolean> {
    const target = (await this.scanUser(userId, Date.now())).find((r) => r.publicId === publicId);
    if (!target) return false;
    await this.delete(target.keyHash);
    return true;
  }

  async deleteForUser(userId: number, exceptKey?: string): Promise<number> {
    const keys = (await this.scanUser(userId, 0)).map((r) => r.keyHash).filter((k) => k !== exceptKey);
    for (let i = 0; i < keys.length; i += 500) await this.db.deleteFrom('django_session').where('session_key', 'in', keys.slice(i, i + 500)).execute();
    return keys.length;
  }

  async listForUser(userId: number, now: number): Promise<SessionRecord[]> {
    return (await this.scanUser(userId, now)).sort((a, b) => b.lastSeenAt - a.lastSeenAt);
  }

  async updateAuthHash(userId: number, oldHash: string, newHash: string): Promise<void> {
    for (const record of await this.scanUser(userId, Date.now())) {
      if (record.authHash !== oldHash) continue;
      record.authHash = newHash;
      await this.write(record);
    }
  }

  /**
   * Writes a password hash portcullis set (an upgrade at login, a change) into Django's auth_user
   * as well, so that Django's session auth hash and portcullis's stay the same one.
   */
  async mirrorPassword(userId: number, encoded: string): Promise<void> {
    // On portcullis's own database, auth_user is portcullis's: the hash is already there.
    if (!this.ownsHandle) return;
    try {
      await this.db.updateTable('auth_user').set({ password: encoded }).where('id', '=', userId).execute();
    } catch (err) {
      // A sessions-only database without Django's users has nothing to keep in step.
      if (/no such table|does not exist/.test((err as Error).message)) return;
      throw err;
    }
  }

  async clearExpired(now: number): Promise<number> {
    const result = await this.db.deleteFrom('django_session').where('expire_date', '<=', this.toDate(now)).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    if (this.ownsHandle) await this.handle.close();
  }
}
