import { Kysely, MysqlDialect, PostgresDialect, SqliteDialect, type SqliteDatabase } from 'kysely';
import { createPool as createMysqlPool } from 'mysql2';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres' | 'mysql';

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: Dialect;
  /** The raw SQLite connection, for the few hot-path statements prepared once (null elsewhere). */
  sqlite: SQLite.Database | null;
  /** The raw PostgreSQL pool, for the hot-path statements prepared by name (null elsewhere). */
  pg: pg.Pool | null;
  close(): Promise<void>;
}

// BIGINT (epoch milliseconds) comes back from pg as a string unless told otherwise; these values
// stay far below 2^53.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

/**
 * Kysely prepares every query it runs; on SQLite, preparing costs more than running a small
 * statement. The connection it gets keeps each statement by its SQL text and hands it out again
 * (better-sqlite3 statements are reusable, and SQLite re-prepares one by itself after a schema
 * change). Bounded: a full cache is simply dropped.
 */
function reusingStatements(sqlite: SQLite.Database): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(source: string) {
      let statement = statements.get(source);
      if (statement === undefined) {
        if (statements.size >= 1000) statements.clear();
        statement = sqlite.prepare(source);
        statements.set(source, statement);
      }
      return statement;
    },
  };
}

export function connectDatabase(url: string): DatabaseHandle {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    const sqlite = new SQLite(path);
    // WAL lets readers proceed while a writer commits; busy_timeout waits out a second process.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: reusingStatements(sqlite) }) });
    return { db, dialect: 'sqlite', sqlite, pg: null, close: () => db.destroy() };
  }
  if (url.startsWith('postgres:') || url.startsWith('postgresql:')) {
    const pool = new pg.Pool({ connectionString: url, types: pgTypes, max: 10, connectionTimeoutMillis: 5000 });
    // An idle client that loses its server emits 'error'; the pool replaces it, the process must not die.
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: 'postgres', sqlite: null, pg: pool, close: () => db.destroy() };
  }
  if (url.startsWith('mysql:')) {
    // BIGINT epoch milliseconds come back as numbers; they stay far below 2^53.
    const pool = createMysqlPool({ uri: url, supportBigNumbers: true, bigNumberStrings: false, connectionLimit: 10, connectTimeout: 5000, charset: 'utf8mb4' });
    pool.on('connection', (conn) => conn.on('error', () => {}));
    const db = new Kysely<Database>({ dialect: new MysqlDialect({ pool }) });
    return { db, dialect: 'mysql', sqlite: null, pg: null, close: () => db.destroy() };
  }
  throw new Error(`unsupported database URL scheme: ${url.split(':')[0]}`);
}
