import { sql, type Kysely, type Transaction } from 'kysely';
import type { CustomFieldSpec, LoginFieldSpec } from '../config.js';
import type { Database } from '../db/schema.js';
import { loginKeyHash } from '../users/login-keys.js';

/**
 * The values of an imported user that must name one account: its login identifiers in the one
 * normal form of the login (portcullis_login_key), and any other unique column by its own rule.
 */

type Executor = Kysely<Database> | Transaction<Database>;

export interface IdentifierField {
  field: string;
  /** A login field: compared in loginKey's normal form, across every login field. */
  login: boolean;
}

export interface Identifier {
  field: string;
  value: string;
  /** The login key hash, or `field:value` for a unique column that is not a login field. */
  key: string;
  login: boolean;
}

/** Who has an identifier in portcullis already, and under which of its fields. */
export interface Holder {
  userId: number;
  field: string;
}

/** The identifier fields among the imported ones: the username first (a user needs it), then the login fields in order, then other unique columns. */
export function identifierFields(imported: string[], loginFields: LoginFieldSpec[], userFields: Record<string, CustomFieldSpec>): IdentifierField[] {
  const login = new Set(loginFields.map((f) => f.field));
  const unique = ['email', ...Object.keys(userFields).filter((n) => userFields[n]!.unique)];
  const names = [...new Set(['username', ...loginFields.map((f) => f.field), ...unique])].filter((f) => imported.includes(f));
  return names.map((field) => ({ field, login: login.has(field) }));
}

function columnKey(field: string, value: string): string {
  // auth_user's email index folds case (lower(email)); other unique columns compare as they are.
  return `${field}:${field === 'email' ? value.toLowerCase() : value}`;
}

/** A user's identifiers; one of its values equal to another of its own in normal form counts once (the first field). */
export function identifiersOf(values: Record<string, unknown>, fields: IdentifierField[]): Identifier[] {
  const out: Identifier[] = [];
  for (const { field, login } of fields) {
    const value = values[field];
    if (typeof value !== 'string' || value === '') continue;
    const key = login ? loginKeyHash(value) : columnKey(field, value);
    if (!out.some((i) => i.key === key)) out.push({ field, value, key, login });
  }
  return out;
}

const CHUNK = 5000;

/** The portcullis accounts that already have any of these identifiers, by key. */
export async function holdersOf(db: Executor, identifiers: Identifier[]): Promise<Map<string, Holder>> {
  const out = new Map<string, Holder>();
  const loginKeys = [...new Set(identifiers.filter((i) => i.login).map((i) => i.key))];
  for (let i = 0; i < loginKeys.length; i += CHUNK) {
    const rows = await db.selectFrom('portcullis_login_key').select(['key_hash', 'user_id', 'field']).where('key_hash', 'in', loginKeys.slice(i, i + CHUNK)).execute();
    for (const r of rows) out.set(r.key_hash, { userId: Number(r.user_id), field: r.field });
  }
  const byField = new Map<string, Set<string>>();
  for (const i of identifiers) if (!i.login) byField.set(i.field, (byField.get(i.field) ?? new Set()).add(i.field === 'email' ? i.value.toLowerCase() : i.value));
  for (const [field, set] of byField) {
    const values = [...set];
    for (let i = 0; i < values.length; i += CHUNK) {
      const column = field === 'email' ? sql<string>`lower(email)` : sql.ref<string>(field);
      const rows = (await db
        .selectFrom('auth_user')
        .select(['id', column.as('v')])
        .where(column, 'in', values.slice(i, i + CHUNK))
        .execute()) as Array<{ id: number; v: string }>;
      for (const r of rows) out.set(columnKey(field, String(r.v)), { userId: Number(r.id), field });
    }
  }
  return out;
}
