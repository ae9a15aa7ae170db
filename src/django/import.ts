import { sql, type Kysely, type Transaction } from 'kysely';
import type { CustomFieldSpec } from '../config.js';
import type { DatabaseHandle } from '../db/connect.js';
import { isUniqueViolation } from '../db/errors.js';
import type { Database } from '../db/schema.js';
import { toEpochMs, toFlag, type DjangoSource, type Row } from './source.js';

export interface ImportOptions {
  /** The Django user table: `auth_user`, or a custom user model's (`accounts_user`). */
  userTable?: string;
  /** Django column → portcullis field, for a custom user model's extra columns. */
  map?: Record<string, string>;
  /** The custom user fields portcullis is configured with (config.userFields). */
  userFields?: Record<string, CustomFieldSpec>;
  /** Users per transaction. */
  batchSize?: number;
  /** Reads and checks everything, writes nothing. */
  dryRun?: boolean;
  /** Leaves the password of a user that already exists in portcullis alone (it may have been upgraded). */
  keepPasswords?: boolean;
  onProgress?(progress: ImportProgress): void;
}

export interface ImportProgress {
  done: number;
  total: number;
}

export interface UserNote {
  id: number;
  username: string;
  reason: string;
}

export interface ImportSummary {
  dryRun: boolean;
  users: { imported: number; updated: number; unchanged: number; skipped: number; withoutEmail: number };
  groups: { imported: number; updated: number };
  permissions: { imported: number; updated: number };
  /** Why users were skipped or imported without their email (the first 100 of each). */
  skipped: UserNote[];
  emailCleared: UserNote[];
  /** Django user columns that had no portcullis field to go to. */
  unmappedColumns: string[];
}

const BUILTIN = ['password', 'last_login', 'is_superuser', 'username', 'first_name', 'last_name', 'email', 'is_staff', 'is_active', 'date_joined'];
const DATES = new Set(['last_login', 'date_joined']);
const FLAGS = new Set(['is_superuser', 'is_staff', 'is_active']);
const NOTE_LIMIT = 100;

class DryRun extends Error {}

type Target = Kysely<Database> | Transaction<Database>;
type UserRow = Record<string, string | number | null> & { id: number; username: string; email: string | null; password: string };

function quote(identifier: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(identifier)) throw new Error(`"${identifier}" is not a table or column name`);
  return `"${identifier}"`;
}

/**
 * Copies Django's users, groups and permissions into portcullis. Users go in id order, a batch per
 * transaction, so an interrupted run leaves whole users behind it and a second run picks up where
 * the first stopped; every run upserts by id, so nothing is ever duplicated.
 */
export async function importDjango(handle: DatabaseHandle, source: DjangoSource, options: ImportOptions = {}): Promise<ImportSummary> {
  const userTable = options.userTable ?? 'auth_user';
  const batchSize = options.batchSize ?? 1000;
  const summary: ImportSummary = {
    dryRun: Boolean(options.dryRun),
    users: { imported: 0, updated: 0, unchanged: 0, skipped: 0, withoutEmail: 0 },
    groups: { imported: 0, updated: 0 },
    permissions: { imported: 0, updated: 0 },
    skipped: [],
    emailCleared: [],
    unmappedColumns: [],
  };
  const columns = await source.columns(userTable);
  if (!columns.length) throw new Error(`the Django database has no table "${userTable}" (a custom user model? pass --user-table).`);
  const plan = columnPlan(columns, options.map ?? {}, options.userFields ?? {});
  summary.unmappedColumns = plan.unmapped;

  const run = async (db: Target) => {
    const maps = await importGroupsAndPermissions(db, source, summary);
    const total = Number((await source.query(`select count(*) as n from ${quote(userTable)}`))[0]?.n ?? 0);
    const select = `select ${['id', ...plan.fields.map(([col]) => col)].map(quote).join(', ')} from ${quote(userTable)} where "id" > ? order by "id" limit ${batchSize}`;
    let lastId = -Infinity;
    let done = 0;
    let batches = 0;
    for (;;) {
      const rows = await source.query(select, [lastId === -Infinity ? -1 : lastId]);
      if (!rows.length) break;
      lastId = Number(rows[rows.length - 1]!.id);
      const users = rows.map((r) => toUserRow(r, plan.fields, options.userFields ?? {}));
      const lo = users[0]!.id;
      const memberships = {
        groups: groupBy(await source.query(`select "user_id", "group_id" from ${quote(userTable + '_groups')} where "user_id" between ? and ?`, [lo, lastId]), 'user_id', (r) => maps.groups.get(Number(r.group_id))),
        perms: groupBy(await source.query(`select "user_id", "permission_id" from ${quote(userTable + '_user_permissions')} where "user_id" between ? and ?`, [lo, lastId]), 'user_id', (r) => maps.permissions.get(Number(r.permission_id))),
      };
      if (options.dryRun) await importBatch(db, users, memberships, summary, options);
      else await importBatchSafely(db as Kysely<Database>, users, memberships, summary, options);
      done += rows.length;
      batches++;
      // A table that grew from nothing has no statistics yet; without them PostgreSQL plans the
      // per-batch lookups as full scans and the import slows down as it goes.
      if (handle.dialect === 'postgres' && !options.dryRun && (batches === 1 || batches % 50 === 0)) await sql`analyze auth_user`.execute(db);
      options.onProgress?.({ done, total: Math.max(total, done) });
    }
    if (handle.dialect === 'postgres' && !options.dryRun) {
      // Rows came in with Django's ids; the next createUser must not collide with them.
      await sql`select setval(pg_get_serial_sequence('auth_user', 'id'), coalesce((select max(id) from auth_user), 0) + 1, false)`.execute(db);
    }
  };

  if (options.dryRun) {
    // One transaction rolled back at the end: the checks see earlier batches, the database sees nothing.
    await handle.db
      .transaction()
      .execute(async (trx) => {
        await run(trx);
        throw new DryRun();
      })
      .catch((err: unknown) => {
        if (!(err instanceof DryRun)) throw err;
      });
  } else await run(handle.db);
  return summary;
}

/** Which Django column feeds which portcullis field. */
function columnPlan(columns: string[], map: Record<string, string>, userFields: Record<string, CustomFieldSpec>) {
  const targets = new Set([...BUILTIN, ...Object.keys(userFields)]);
  for (const [col, field] of Object.entries(map)) {
    if (!columns.includes(col)) throw new Error(`--map ${col}=${field}: the Django user table has no column "${col}".`);
    if (!targets.has(field)) throw new Error(`--map ${col}=${field}: portcullis has no user field "${field}" (declare it in userFields).`);
  }
  const fields: Array<[string, string]> = [];
  for (const field of targets) {
    const col = Object.keys(map).find((c) => map[c] === field) ?? (columns.includes(field) && !(field in map) ? field : undefined);
    if (col) fields.push([col, field]);
  }
  for (const required of ['password', 'username']) {
    if (!fields.some(([, f]) => f === required)) throw new Error(`the Django user table has no "${required}" column; map one with --map COLUMN=${required}.`);
  }
  const used = new Set(['id', ...fields.map(([c]) => c)]);
  return { fields, unmapped: columns.filter((c) => !used.has(c)) };
}

function toUserRow(row: Row, fields: Array<[string, string]>, userFields: Record<string, CustomFieldSpec>): UserRow {
  const out: Record<string, string | number | null> = {
    id: Number(row.id),
    last_login: null,
    is_superuser: 0,
    first_name: '',
    last_name: '',
    email: null,
    is_staff: 0,
    is_active: 1,
    date_joined: Date.now(),
  };
  for (const [col, field] of fields) {
    const value = row[col];
    if (DATES.has(field)) out[field] = toEpochMs(value);
    else if (FLAGS.has(field) || userFields[field]?.type === 'boolean') out[field] = value === null || value === undefined ? (FLAGS.has(field) ? 0 : null) : toFlag(value);
    else if (userFields[field]?.type === 'integer') out[field] = value === null || value === undefined || value === '' ? null : Number(value);
    // Django stores "no email" as ''; portcullis as NULL, so that the unique index ignores it.
    else if (field === 'email') out.email = value ? String(value) : null;
    else out[field] = value === null || value === undefined ? (userFields[field] ? null : '') : String(value);
  }
  if (out.date_joined === null) out.date_joined = Date.now();
  return out as UserRow;
}

function groupBy(rows: Row[], key: string, value: (r: Row) => number | undefined): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const r of rows) {
    const v = value(r);
    if (v === undefined) continue;
    const k = Number(r[key]);
    const list = out.get(k) ?? [];
    list.push(v);
    out.set(k, list);
  }
  return out;
}

interface IdMaps {
  groups: Map<number, number>;
  permissions: Map<number, number>;
}

/** Permissions are matched on (app_label, codename) and groups on name; portcullis keeps its own ids. */
async function importGroupsAndPermissions(db: Target, source: DjangoSource, summary: ImportSummary): Promise<IdMaps> {
  const perms = await source.query(
    'select p."id", p."name", p."codename", c."app_label" from "auth_permission" p join "django_content_type" c on c."id" = p."content_type_id" order by p."id"',
  );
  const existingPerms = await db.selectFrom('auth_permission').select(['id', 'app_label', 'codename', 'name']).execute();
  const permKey = (app: unknown, code: unknown) => `${String(app)}.${String(code)}`;
  const byKey = new Map(existingPerms.map((p) => [permKey(p.app_label, p.codename), p]));
  const permissions = new Map<number, number>();
  for (const p of perms) {
    const found = byKey.get(permKey(p.app_label, p.codename));
    if (found) {
      if (found.name !== p.name) {
        await db.updateTable('auth_permission').set({ name: String(p.name) }).where('id', '=', found.id).execute();
        summary.permissions.updated++;
      }
      permissions.set(Number(p.id), found.id);
      continue;
    }
    const inserted = await db
      .insertInto('auth_permission')
      .values({ name: String(p.name), app_label: String(p.app_label), codename: String(p.codename) })
      .returning('id')
      .executeTakeFirstOrThrow();
    permissions.set(Number(p.id), Number(inserted.id));
    summary.permissions.imported++;
  }

  const groups = new Map<number, number>();
  const existingGroups = new Map((await db.selectFrom('auth_group').select(['id', 'name']).execute()).map((g) => [g.name, Number(g.id)]));
  const groupPerms = groupBy(await source.query('select "group_id", "permission_id" from "auth_group_permissions"'), 'group_id', (r) =>
    permissions.get(Number(r.permission_id)),
  );
  for (const g of await source.query('select "id", "name" from "auth_group" order by "id"')) {
    let id = existingGroups.get(String(g.name));
    const wanted = [...new Set(groupPerms.get(Number(g.id)) ?? [])].sort((a, b) => a - b);
    if (id === undefined) {
      id = Number((await db.insertInto('auth_group').values({ name: String(g.name) }).returning('id').executeTakeFirstOrThrow()).id);
      summary.groups.imported++;
    } else {
      const have = (await db.selectFrom('auth_group_permissions').select('permission_id').where('group_id', '=', id).execute()).map((r) => Number(r.permission_id));
      if (sameSet(have, wanted)) {
        groups.set(Number(g.id), id);
        continue;
      }
      summary.groups.updated++;
    }
    groups.set(Number(g.id), id);
    await db.deleteFrom('auth_group_permissions').where('group_id', '=', id).execute();
    if (wanted.length) await db.insertInto('auth_group_permissions').values(wanted.map((permission_id) => ({ group_id: id, permission_id }))).execute();
  }
  return { groups, permissions };
}

function sameSet(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

interface Memberships {
  groups: Map<number, number[]>;
  perms: Map<number, number[]>;
}

/**
 * A batch in one transaction. Should it break a unique rule the checks could not foresee (a
 * custom unique field, say), each user of the batch is retried in a transaction of its own and
 * the offending ones are reported as skipped.
 */
async function importBatchSafely(db: Kysely<Database>, users: UserRow[], memberships: Memberships, summary: ImportSummary, options: ImportOptions) {
  const before = structuredClone(summary);
  try {
    await db.transaction().execute((trx) => importBatch(trx, users, memberships, summary, options));
  } catch (err) {
    if (!isUniqueViolation(err) || users.length === 1) throw err;
    Object.assign(summary, before);
    for (const user of users) {
      const single = structuredClone(summary);
      try {
        await db.transaction().execute((trx) => importBatch(trx, [user], memberships, summary, options));
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        Object.assign(summary, single);
        skip(summary, user, `a unique field collides with another portcullis user (${(e as Error).message.slice(0, 120)})`);
      }
    }
  }
}

function skip(summary: ImportSummary, user: UserRow, reason: string): void {
  summary.users.skipped++;
  if (summary.skipped.length < NOTE_LIMIT) summary.skipped.push({ id: user.id, username: user.username, reason });
}

async function importBatch(db: Target, users: UserRow[], memberships: Memberships, summary: ImportSummary, options: ImportOptions): Promise<void> {
  const ids = users.map((u) => u.id);
  const existing = new Map((await db.selectFrom('auth_user').selectAll().where('id', 'in', ids).execute()).map((r) => [Number(r.id), r as unknown as Record<string, unknown>]));
  const takenNames = new Map(
    (await db.selectFrom('auth_user').select(['id', 'username']).where('username', 'in', users.map((u) => u.username)).execute()).map((r) => [r.username, Number(r.id)]),
  );
  const emails = [...new Set(users.flatMap((u) => (u.email ? [u.email.toLowerCase()] : [])))];
  const takenEmails = new Map<string, number>();
  if (emails.length) {
    const rows = await db
      .selectFrom('auth_user')
      .select(['id', sql<string>`lower(email)`.as('e')])
      .where(sql`lower(email)`, 'in', emails)
      .execute();
    for (const r of rows) takenEmails.set(r.e, Number(r.id));
  }

  const present = [...existing.keys()];
  const haveGroups = present.length
    ? groupBy(await db.selectFrom('auth_user_groups').select(['user_id', 'group_id']).where('user_id', 'in', present).execute(), 'user_id', (r) => Number(r.group_id))
    : new Map<number, number[]>();
  const havePerms = present.length
    ? groupBy(await db.selectFrom('auth_user_user_permissions').select(['user_id', 'permission_id']).where('user_id', 'in', present).execute(), 'user_id', (r) => Number(r.permission_id))
    : new Map<number, number[]>();

  const writes: UserRow[] = [];
  for (const user of users) {
    const owner = takenNames.get(user.username);
    if (owner !== undefined && owner !== user.id) {
      skip(summary, user, `username already belongs to portcullis user #${owner}`);
      continue;
    }
    if (user.email) {
      const key = user.email.toLowerCase();
      const holder = takenEmails.get(key);
      if (holder !== undefined && holder !== user.id) {
        summary.users.withoutEmail++;
        if (summary.emailCleared.length < NOTE_LIMIT) summary.emailCleared.push({ id: user.id, username: user.username, reason: `email ${user.email} already belongs to user #${holder}` });
        user.email = null;
      } else takenEmails.set(key, user.id);
    }
    const before = existing.get(user.id);
    if (before && options.keepPasswords) user.password = String(before.password);
    const groups = [...new Set(memberships.groups.get(user.id) ?? [])];
    const perms = [...new Set(memberships.perms.get(user.id) ?? [])];
    if (!before) {
      summary.users.imported++;
    } else {
      const changed = Object.keys(user).some((k) => normalise(before[k]) !== normalise(user[k]));
      const sameMemberships = sameSet(haveGroups.get(user.id) ?? [], groups) && sameSet(havePerms.get(user.id) ?? [], perms);
      if (!changed && sameMemberships) {
        summary.users.unchanged++;
        continue;
      }
      summary.users.updated++;
    }
    writes.push(user);
  }
  if (!writes.length) return;

  const columns = Object.keys(writes[0]!);
  const perInsert = Math.max(1, Math.floor(30_000 / columns.length));
  for (let i = 0; i < writes.length; i += perInsert) {
    await db
      .insertInto('auth_user')
      .values(writes.slice(i, i + perInsert) as never)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet(Object.fromEntries(columns.filter((c) => c !== 'id').map((c) => [c, sql.ref(`excluded.${c}`)])) as never),
      )
      .execute();
  }
  const written = writes.map((u) => u.id);
  await db.deleteFrom('auth_user_groups').where('user_id', 'in', written).execute();
  await db.deleteFrom('auth_user_user_permissions').where('user_id', 'in', written).execute();
  const groupRows = writes.flatMap((u) => [...new Set(memberships.groups.get(u.id) ?? [])].map((group_id) => ({ user_id: u.id, group_id })));
  const permRows = writes.flatMap((u) => [...new Set(memberships.perms.get(u.id) ?? [])].map((permission_id) => ({ user_id: u.id, permission_id })));
  for (let i = 0; i < groupRows.length; i += 10_000) await db.insertInto('auth_user_groups').values(groupRows.slice(i, i + 10_000)).execute();
  for (let i = 0; i < permRows.length; i += 10_000) await db.insertInto('auth_user_user_permissions').values(permRows.slice(i, i + 10_000)).execute();
}

function normalise(value: unknown): string {
  return value === null || value === undefined ? '' : typeof value === 'boolean' ? String(Number(value)) : String(value);
}
