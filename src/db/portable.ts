import type { InsertObject } from 'kysely';
import type { DatabaseHandle } from './connect.js';
import type { Database } from './schema.js';

/** The few statements whose spelling differs between SQLite/PostgreSQL and MySQL, written once. */

/** Inserts a row and returns its generated id (RETURNING where there is one, insertId on MySQL). */
export async function insertReturningId<T extends keyof Database & string>(
  handle: DatabaseHandle,
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
