import type { InsertObject } from 'kysely';
import type { DatabaseHandle } from './connect.js';
import type { Database } from './schema.js';

/** The few statements whose spelling differs between SQLite/PostgreSQL and MySQL, written once. */

/** Inserts a row and returns its generated id (RETURNING where there is one, insertId on MySQL). */
export async function insertReturningId<T extends keyof Database & string>(
  handle: Pick<DatabaseHandle, 'db' | 'dialect'>,
  table: T,
  values: InsertObject<Database, T>,
): Promise<number> {
  const query = handle.db.insertInto(table).values(values);
  if (handle.dialect === 'mysql') return Number((await query.executeTakeFirstOrThrow()).insertId);
  const row = (await query.returning('id' as never).executeTakeFirstOrThrow()) as unknown as { id: number | string };
  return Number(row.id);
}

/** Inserts a row unless one with the same unique columns exists. */
export async function insertIgnoringDuplicate<T extends keyof Database & string>(
  handle: DatabaseHandle,
  table: T,
  values: InsertObject<Database, T>,
  columns: string[],
): Promise<void> {
  const query = handle.db.insertInto(table).values(values);
  if (handle.dialect === 'mysql') await query.ignore().execute();
  else await query.onConflict((oc) => oc.columns(columns as never).doNothing()).execute();
}

const RETRYABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', '40P01', '40001', 'SQLITE_BUSY']);

/**
 * Runs a short transaction again when the database chose it as a deadlock victim. MySQL does that to
 * concurrent upserts of the same new key (their gap locks cross); the retry is the documented remedy.
 */
export async function retryOnDeadlock<T>(fn: () => Promise<T>, attempts = 6): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= attempts || typeof code !== 'string' || !RETRYABLE.has(code)) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
    }
  }
}
