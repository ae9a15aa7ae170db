import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { LoginFieldSpec } from '../config.js';
import type { DatabaseHandle } from '../db/connect.js';
import type { Database } from '../db/schema.js';
import { loginKey } from './normalize.js';

/**
 * The login identifiers of accounts, kept in one normal form (portcullis_login_key): the login looks
 * an identifier up here, the throttle counts the account it names, and the table's primary key makes
 * one identifier name at most one account, whatever field each side came from.
 */

type Executor = Kysely<Database> | Transaction<Database>;

export interface LoginKeyRow {
  key_hash: string;
  user_id: number;
  field: string;
}

/** Where a new identifier collides: the field of the new value and the account that already has it. */
export interface IdentifierConflict {
  field: string;
  userId: number;
}

export function loginKeyHash(identifier: string): string {
  return createHash('sha256').update(loginKey(identifier)).digest('hex');
}

/** The key rows of one user's login fields (empty values have none); the first field wins a tie. */
export function loginKeyRows(userId: number, values: Record<string, unknown>, loginFields: LoginFieldSpec[]): LoginKeyRow[] {
  const rows: LoginKeyRow[] = [];
  for (const { field } of loginFields) {
    const value = values[field];
    if (typeof value !== 'string' || value === '') continue;
    const key_hash = loginKeyHash(value);
    // A user's own username and email may share a normal form; one row names them both.
    if (!rows.some((r) => r.key_hash === key_hash)) rows.push({ key_hash, user_id: userId, field });
  }
  return rows;
}

/** Other accounts already named by any of these values, by the field of the value. */
export async function identifierConflicts(
  db: Executor,
  values: Record<string, unknown>,
  loginFields: LoginFieldSpec[],
  exceptUserId?: number,
): Promise<IdentifierConflict[]> {
  const rows = loginKeyRows(exceptUserId ?? 0, values, loginFields);
  if (!rows.length) return [];
  const taken = await db
    .selectFrom('portcullis_login_key')
    .select(['key_hash', 'user_id'])
    .where('key_hash', 'in', rows.map((r) => r.key_hash))
    .execute();
  const conflicts: IdentifierConflict[] = [];
  for (const row of rows) {
    const other = taken.find((t) => t.key_hash === row.key_hash && Number(t.user_id) !== exceptUserId);
    if (other) conflicts.push({ field: row.field, userId: Number(other.user_id) });
  }
  return conflicts;
}

/**
 * Rewrites one user's key rows from the row as it now stands, inside the caller's transaction (after
 * its insert or update), whenever a login field was written. All of them at once: one row may name
 * two of the user's fields (a username that is also the email), so no field's row is dropped alone.
 * A key another account holds fails the insert (primary key), which the caller turns into 409.
 */
export async function writeLoginKeys(trx: Executor, userId: number, values: Record<string, unknown>, loginFields: LoginFieldSpec[]): Promise<void> {
  if (!loginFields.some(({ field }) => values[field] !== undefined)) return;
  const columns = [...new Set(loginFields.map((f) => f.field))];
  const row = (await trx.selectFrom('auth_user').select(columns as never[]).where('id', '=', userId).executeTakeFirst()) as Record<string, unknown> | undefined;
  await trx.deleteFrom('portcullis_login_key').where('user_id', '=', userId).execute();
  const rows = row ? loginKeyRows(userId, row, loginFields) : [];
  if (rows.length) await trx.insertInto('portcullis_login_key').values(rows).execute();
}

export interface SyncResult {
  /** Whether the keys were rebuilt (first start, or the login fields changed). */
  rebuilt: boolean;
  /** Identifiers of existing accounts that another (older) account already names: they no longer log in by it. */
  conflicts: Array<{ userId: number; field: string; heldBy: number }>;
}

const FINGERPRINT = 'login_fields';

/**
 * Fills portcullis_login_key from auth_user when it is new or the configured login fields changed
 * (older accounts keep an identifier two of them share; each such case is reported, nothing else
 * changes). Runs after the migrations.
 */
export async function syncLoginKeys(handle: DatabaseHandle, loginFields: LoginFieldSpec[]): Promise<SyncResult> {
  const db = handle.db;
  const fingerprint = JSON.stringify({ v: 1, fields: loginFields.map((f) => f.field) });
  const stored = await db.selectFrom('portcullis_meta').select('value').where('name', '=', FINGERPRINT).executeTakeFirst();
  if (stored?.value === fingerprint) return { rebuilt: false, conflicts: [] };
  const conflicts: SyncResult['conflicts'] = [];
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('portcullis_login_key').execute();
    const columns = ['id', ...new Set(loginFields.map((f) => f.field))];
    let after = 0;
    for (;;) {
      const batch = (await trx
        .selectFrom('auth_user')
        .select(columns as never[])
        .where('id', '>', after)
        .orderBy('id')
        .limit(500)
        .execute()) as unknown as Array<Record<string, unknown>>;
      if (!batch.length) break;
      const rows = batch.flatMap((user) => loginKeyRows(Number(user.id), user, loginFields));
      const insert = trx.insertInto('portcullis_login_key').values(rows);
      if (rows.length) await (handle.dialect === 'mysql' ? insert.ignore() : insert.onConflict((oc) => oc.column('key_hash').doNothing())).execute();
      // Whatever did not go in is held by an older account (an earlier batch, or earlier in this one).
      const holders = rows.length
        ? await trx.selectFrom('portcullis_login_key').select(['key_hash', 'user_id']).where('key_hash', 'in', rows.map((r) => r.key_hash)).execute()
        : [];
      const holderOf = new Map(holders.map((h) => [h.key_hash, Number(h.user_id)]));
      for (const row of rows) {
        const holder = holderOf.get(row.key_hash);
        if (holder !== undefined && holder !== row.user_id) conflicts.push({ userId: row.user_id, field: row.field, heldBy: holder });
      }
      after = Number(batch[batch.length - 1]!.id);
    }
    await trx.deleteFrom('portcullis_meta').where('name', '=', FINGERPRINT).execute();
    await trx.insertInto('portcullis_meta').values({ name: FINGERPRINT, value: fingerprint }).execute();
  });
  return { rebuilt: true, conflicts };
}
