import { sql, type Selectable } from 'kysely';
import type { Statement } from 'better-sqlite3';
import type { DatabaseHandle } from '../db/connect.js';
import type { SessionTable } from '../db/schema.js';
import type { DataPatch, SessionData, SessionRecord, SessionStore } from './base.js';

export function applyPatch(data: SessionData, patch: DataPatch): SessionData {
  const next: SessionData = patch.clear ? {} : { ...data };
  for (const key of patch.delete ?? []) delete next[key];
  for (const [key, value] of Object.entries(patch.set ?? {})) next[key] = value;
  return next;
}

function fromRow(row: Selectable<SessionTable>): SessionRecord {
  return {
    keyHash: row.key_hash,
    publicId: row.public_id,
    userId: row.user_id === null ? null : Number(row.user_id),
    backend: row.backend,
    authHash: row.auth_hash,
    data: JSON.parse(row.data) as SessionData,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    expiresAt: Number(row.expires_at),
    persistent: Boolean(row.persistent),
    ip: row.ip,
    userAgent: row.user_agent,
  };
}

/** The default store: one row per session in `portcullis_session`, found by the key's hash. */
export class SqlSessionStore implements SessionStore {
  readonly name = 'database';
  private getStatement: Statement | undefined;

  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  async create(r: SessionRecord): Promise<void> {
    await this.db
      .insertInto('portcullis_session')
      .values({
        key_hash: r.keyHash,
        public_id: r.publicId,
        user_id: r.userId,
        backend: r.backend,
        auth_hash: r.authHash,
        data: JSON.stringify(r.data),
        created_at: r.createdAt,
        last_seen_at: r.lastSeenAt,
        expires_at: r.expiresAt,
        persistent: r.persistent ? 1 : 0,
        ip: r.ip,
        user_agent: r.userAgent,
      })
      .execute();
  }

  async get(keyHash: string, now: number): Promise<SessionRecord | null> {
    // Every authenticated request comes through here: on SQLite, one statement prepared once and run
    // synchronously beats building and preparing the query anew each time.
    if (this.handle.sqlite) {
      this.getStatement ??= this.handle.sqlite.prepare('SELECT * FROM portcullis_session WHERE key_hash = ? AND expires_at > ?');
      const row = this.getStatement.get(keyHash, now) as Selectable<SessionTable> | undefined;
      return row ? fromRow(row) : null;
    }
    const row = await this.db
      .selectFrom('portcullis_session')
      .selectAll()
      .where('key_hash', '=', keyHash)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row ? fromRow(row) : null;
  }

  async touch(keyHash: string, lastSeenAt: number, expiresAt?: number): Promise<void> {
    await this.db
      .updateTable('portcullis_session')
      .set(expiresAt === undefined ? { last_seen_at: lastSeenAt } : { last_seen_at: lastSeenAt, expires_at: expiresAt })
      .where('key_hash', '=', keyHash)
      .execute();
  }

  /** Read, merge and write inside one transaction (rows locked on PostgreSQL), so concurrent patches of different keys all land. */
  async patchData(keyHash: string, patch: DataPatch): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      let query = trx.selectFrom('portcullis_session').select('data').where('key_hash', '=', keyHash);
      if (this.handle.dialect !== 'sqlite') query = query.forUpdate();
      const row = await query.executeTakeFirst();
      if (!row) return;
      const data = applyPatch(JSON.parse(row.data) as SessionData, patch);
      await trx.updateTable('portcullis_session').set({ data: JSON.stringify(data) }).where('key_hash', '=', keyHash).execute();
    });
  }

  async setExpiry(keyHash: string, expiresAt: number, persistent: boolean): Promise<void> {
    await this.db.updateTable('portcullis_session').set({ expires_at: expiresAt, persistent: persistent ? 1 : 0 }).where('key_hash', '=', keyHash).execute();
  }

  async delete(keyHash: string): Promise<void> {
    await this.db.deleteFrom('portcullis_session').where('key_hash', '=', keyHash).execute();
  }

  async deleteByPublicId(userId: number, publicId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('portcullis_session')
      .where('public_id', '=', publicId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async deleteForUser(userId: number, exceptKeyHash?: string): Promise<number> {
    let query = this.db.deleteFrom('portcullis_session').where('user_id', '=', userId);
    if (exceptKeyHash) query = query.where('key_hash', '!=', exceptKeyHash);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async listForUser(userId: number, now: number): Promise<SessionRecord[]> {
    const rows = await this.db
      .selectFrom('portcullis_session')
      .selectAll()
      .where('user_id', '=', userId)
      .where('expires_at', '>', now)
      .orderBy('last_seen_at', 'desc')
      .execute();
    return rows.map(fromRow);
  }

  async updateAuthHash(userId: number, oldHash: string, newHash: string): Promise<void> {
    await this.db
      .updateTable('portcullis_session')
      .set({ auth_hash: newHash })
      .where('user_id', '=', userId)
      .where('auth_hash', '=', oldHash)
      .execute();
  }

  async clearExpired(now: number): Promise<number> {
    const result = await this.db.deleteFrom('portcullis_session').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {}
}
