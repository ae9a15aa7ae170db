import { sql, type Selectable } from 'kysely';
import type { Statement } from 'better-sqlite3';
import type { DatabaseHandle } from '../db/connect.js';
import { retryOnDeadlock } from '../db/portable.js';
import type { SessionTable } from '../db/schema.js';
import type { DataPatch, JoinedUserRead, SessionData, SessionRecord, SessionStore, UserSessionIndex } from './base.js';

export function applyPatch(data: SessionData, patch: DataPatch): SessionData {
  const next: SessionData = patch.clear ? {} : { ...data };
  for (const key of patch.delete ?? []) delete next[key];
  for (const [key, value] of Object.entries(patch.set ?? {})) next[key] = value;
  return next;
}

const SESSION_COLUMNS = ['key_hash', 'public_id', 'user_id', 'backend', 'auth_hash', 'data', 'created_at', 'last_seen_at', 'expires_at', 'persistent', 'ip', 'user_agent'] as const;
/** auth_user's own columns; the configured custom fields follow them. */
const USER_COLUMNS = ['id', 'password', 'last_login', 'is_superuser', 'username', 'first_name', 'last_name', 'email', 'is_staff', 'is_active', 'date_joined'];

/** A session row as values in SESSION_COLUMNS order (the joined query's first columns). */
function fromValues(v: unknown[]): SessionRecord {
  return {
    keyHash: v[0] as string,
    publicId: v[1] as string,
    userId: v[2] === null ? null : Number(v[2]),
    backend: v[3] as string | null,
    authHash: v[4] as string | null,
    data: JSON.parse(v[5] as string) as SessionData,
    createdAt: Number(v[6]),
    lastSeenAt: Number(v[7]),
    expiresAt: Number(v[8]),
    persistent: Boolean(v[9]),
    ip: v[10] as string | null,
    userAgent: v[11] as string | null,
  };
}

/** A session row by column name (the store's other queries): the same mapping as fromValues. */
function fromRow(row: Selectable<SessionTable>): SessionRecord {
  return fromValues(SESSION_COLUMNS.map((c) => row[c]));
}

/** The default store: one row per session in `portcullis_session`, found by the key's hash. */
export class SqlSessionStore implements SessionStore, UserSessionIndex, JoinedUserRead {
  readonly name = 'database';
  private getStatement: Statement | undefined;
  private joinStatement: Statement | undefined;
  private readonly userColumns: string[];
  private readonly joinedSql: string;

  /** `customUserColumns`: the configured custom user fields, which the joined query also reads. */
  constructor(
    private readonly handle: DatabaseHandle,
    customUserColumns: string[] = [],
  ) {
    this.userColumns = [...USER_COLUMNS, ...customUserColumns];
    // Column names are checked at configuration time (^[a-z][a-z0-9_]*$); quoting keeps reserved words safe.
    const q = (name: string) => (handle.dialect === 'mysql' ? `\`${name}\`` : `"${name}"`);
    const columns = [...SESSION_COLUMNS.map((c) => `s.${q(c)} AS ${q(`__s_${c}`)}`), ...this.userColumns.map((c) => `u.${q(c)}`)];
    this.joinedSql = `SELECT ${columns.join(', ')} FROM portcullis_session s LEFT JOIN auth_user u ON u.id = s.user_id WHERE s.key_hash = ? AND s.expires_at > ?`;
  }

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

  /**
   * The session and its user in one round trip (one query instead of two on every authenticated
   * request, which is what a networked database charges for), with the columns named up front. On
   * SQLite the statement is prepared once and returns plain arrays; on PostgreSQL it is a named
   * prepared statement, planned once per connection.
   */
  async getWithUserRow(keyHash: string, now: number): Promise<{ record: SessionRecord; userRow: Record<string, unknown> | null } | null> {
    let values: unknown[] | undefined;
    if (this.handle.sqlite) {
      this.joinStatement ??= this.handle.sqlite.prepare(this.joinedSql).raw(true);
      values = this.joinStatement.get(keyHash, now) as unknown[] | undefined;
    } else if (this.handle.pg) {
      const result = await this.handle.pg.query<unknown[]>({
        name: 'portcullis_session_with_user',
        text: this.joinedSql.replace('?', '$1').replace('?', '$2'),
        values: [keyHash, now],
        rowMode: 'array',
      });
      values = result.rows[0];
    } else {
      const result = await sql<Record<string, unknown>>`${sql.raw(this.joinedSql.slice(0, this.joinedSql.indexOf(' WHERE ')))} WHERE s.key_hash = ${keyHash} AND s.expires_at > ${now}`.execute(this.db);
      // Keys come back in the order the query named them.
      values = result.rows[0] && Object.values(result.rows[0]);
    }
    if (!values) return null;
    const base = SESSION_COLUMNS.length;
    if (values[base] === null || values[base] === undefined) return { record: fromValues(values), userRow: null };
    const user: Record<string, unknown> = {};
    for (let i = 0; i < this.userColumns.length; i++) user[this.userColumns[i]!] = values[base + i];
    return { record: fromValues(values), userRow: user };
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
    await retryOnDeadlock(() => this.db.transaction().execute(async (trx) => {
      let query = trx.selectFrom('portcullis_session').select('data').where('key_hash', '=', keyHash);
      if (this.handle.dialect !== 'sqlite') query = query.forUpdate();
      const row = await query.executeTakeFirst();
      if (!row) return;
      const data = applyPatch(JSON.parse(row.data) as SessionData, patch);
      await trx.updateTable('portcullis_session').set({ data: JSON.stringify(data) }).where('key_hash', '=', keyHash).execute();
    }));
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
