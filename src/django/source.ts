import SQLite from 'better-sqlite3';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';

export type Row = Record<string, unknown>;

/**
 * A Django database opened for reading. Every query is written once with `?` placeholders and
 * double-quoted identifiers, which SQLite and PostgreSQL both read (and MySQL with ANSI_QUOTES).
 */
export interface DjangoSource {
  readonly kind: 'sqlite' | 'postgres' | 'mysql';
  query(text: string, params?: unknown[]): Promise<Row[]>;
  /** The columns of a table, empty when the table does not exist. */
  columns(table: string): Promise<string[]>;
  close(): Promise<void>;
}

class SqliteSource implements DjangoSource {
  readonly kind = 'sqlite';
  private readonly db: SQLite.Database;

  constructor(path: string) {
    // Read-only: an import never writes to the Django database, and cannot lock it for Django.
    this.db = new SQLite(path, { readonly: true, fileMustExist: true });
  }

  async query(text: string, params: unknown[] = []): Promise<Row[]> {
    return this.db.prepare(text).all(...params) as Row[];
  }

  async columns(table: string): Promise<string[]> {
    return (this.db.prepare('select name from pragma_table_info(?)').all(table) as Array<{ name: string }>).map((r) => r.name);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

class PostgresSource implements DjangoSource {
  readonly kind = 'postgres';

  constructor(private readonly client: pg.Client) {}

  async query(text: string, params: unknown[] = []): Promise<Row[]> {
    let n = 0;
    const result = await this.client.query(text.replace(/\?/g, () => `$${++n}`), params);
    return result.rows as Row[];
  }

  async columns(table: string): Promise<string[]> {
    const rows = await this.query(
      'select column_name from information_schema.columns where table_name = ? and table_schema = current_schema() order by ordinal_position',
      [table],
    );
    return rows.map((r) => String(r.column_name));
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

class MysqlSource implements DjangoSource {
  readonly kind = 'mysql';

  constructor(private readonly conn: Connection) {}

  async query(text: string, params: unknown[] = []): Promise<Row[]> {
    // query(), not execute(): the text protocol escapes `?` client-side, no prepared statement per batch.
    const [rows] = await this.conn.query<RowDataPacket[]>(text, params);
    return rows as Row[];
  }

  async columns(table: string): Promise<string[]> {
    // Aliased: MySQL 8 names information_schema columns in capitals whatever the select says.
    const rows = await this.query(
      'select column_name as "name" from information_schema.columns where table_name = ? and table_schema = database() order by ordinal_position',
      [table],
    );
    return rows.map((r) => String(r.name));
  }

  async close(): Promise<void> {
    await this.conn.end();
  }
}

async function openMysql(url: string): Promise<MysqlSource> {
  // Django writes DATETIMEs in UTC (USE_TZ); read as UTC they come back as the right Dates.
  const conn = await createConnection({ uri: url, timezone: 'Z', dateStrings: false, supportBigNumbers: true, bigNumberStrings: false, charset: 'utf8mb4', connectTimeout: 10_000 });
  conn.on('error', () => {});
  try {
    // ANSI_QUOTES: the shared queries quote identifiers with ", not `. CONCAT_WS skips an empty mode.
    await conn.query("set session sql_mode = concat_ws(',', nullif(@@sql_mode, ''), 'ANSI_QUOTES')");
    // An import never writes to the Django database; the server enforces it too.
    await conn.query('set session transaction read only');
  } catch (err) {
    conn.destroy();
    throw err;
  }
  return new MysqlSource(conn);
}

/** `sqlite:PATH`, a bare file path, `postgres://…` or `mysql://…` (MySQL or MariaDB). */
export async function openDjangoSource(from: string): Promise<DjangoSource> {
  if (from.startsWith('postgres://') || from.startsWith('postgresql://')) {
    const client = new pg.Client({ connectionString: from, connectionTimeoutMillis: 10_000 });
    await client.connect();
    return new PostgresSource(client);
  }
  if (from.startsWith('mysql://')) return openMysql(from);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(from)) throw new Error(`--from "${from.split(':')[0]}:" is not a database this command reads; use a SQLite path, postgres://… or mysql://…`);
  return new SqliteSource(from.startsWith('sqlite:') ? from.slice('sqlite:'.length) : from);
}

/** Django's datetimes as epoch ms: pg and mysql2 hand back Dates, SQLite the text Django wrote (UTC when USE_TZ). */
export function toEpochMs(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number') return value;
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?$/.exec(String(value).trim());
  if (!m) throw new Error(`unreadable date "${String(value)}"`);
  const [, y, mo, d, h, mi, s, frac = '0', zone] = m;
  let ms = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!, Math.floor(Number(frac.padEnd(6, '0')) / 1000));
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return ms;
}

export function toFlag(value: unknown): number {
  return value === true || value === 1 || value === '1' || value === 't' ? 1 : 0;
}
