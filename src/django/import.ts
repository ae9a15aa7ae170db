import { sql, type Kysely, type Transaction } from 'kysely';
import type { CustomFieldSpec, LoginFieldSpec } from '../config.js';
import type { DatabaseHandle, Dialect } from '../db/connect.js';
import { isUniqueViolation } from '../db/errors.js';
import type { Database } from '../db/schema.js';
import { loginKeyRows } from '../users/login-keys.js';
import { holdersOf, identifiersOf, identifierFields, type IdentifierField } from './identifiers.js';
import { djangoSourceId, originsOf, usersFromDjango } from './origin.js';
import { toEpochMs, toFlag, type DjangoSource, type Row } from './source.js';
import { describeUser, surveyDjangoUsers, type ImportConflict, type Survey } from './survey.js';

export interface ImportOptions {
  /** The Django user table: `auth_user`, or a custom user model's (`accounts_user`). */
  userTable?: string;
  /** Django column → portcullis field, for a custom user model's extra columns. */
  map?: Record<string, string>;
  /** The custom user fields portcullis is configured with (config.userFields). */
  userFields?: Record<string, CustomFieldSpec>;
  /** The login identifiers portcullis is configured with (config.loginFields): their keys are written, and one names one account. */
  loginFields?: LoginFieldSpec[];
  /** Users per transaction. */
  batchSize?: number;
  /** Reads and checks everything, writes nothing. */
  dryRun?: boolean;
  /** Leaves the password of a user that already exists in portcullis alone (it may have been upgraded). */
  keepPasswords?: boolean;
  /**
   * A Django user whose id belongs to a portcullis user that did not come from it is imported under
   * a new id (recorded in portcullis_user_origin). Without it, such a user refuses the whole import.
   */
  remapIds?: boolean;
  /** Names the Django database instead of its own identity (see djangoSourceId). */
  sourceName?: string;
  onProgress?(progress: ImportProgress): void;
}

export interface ImportProgress {
  done: number;
  total: number;
}

export interface ImportSummary {
  dryRun: boolean;
  /** The whole import was refused (Django ids that belong to other portcullis users, without remapIds): nothing was written. */
  refused: boolean;
  /** The name the Django database's users are recorded under (portcullis_user_origin.source). */
  source: string;
  users: { imported: number; updated: number; unchanged: number; skipped: number; withoutEmail: number; remapped: number };
  groups: { imported: number; updated: number };
  permissions: { imported: number; updated: number };
  /** Every case where a Django user could not have what it had in Django, in Django id order. */
  conflicts: ImportConflict[];
  /** Django user columns that had no portcullis field to go to. */
  unmappedColumns: string[];
}

const BUILTIN = ['password', 'last_login', 'is_superuser', 'username', 'first_name', 'last_name', 'email', 'is_staff', 'is_active', 'date_joined'];
const DATES = new Set(['last_login', 'date_joined']);
const FLAGS = new Set(['is_superuser', 'is_staff', 'is_active']);
const DEFAULT_LOGIN_FIELDS: LoginFieldSpec[] = [{ field: 'username' }, { field: 'email', pattern: /@/ }];

class DryRun extends Error {}

type Target = Kysely<Database> | Transaction<Database>;
type UserRow = Record<string, string | number | null> & { id: number; username: string; email: string | null; password: string };

function quote(identifier: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(identifier)) throw new Error(`"${identifier}" is not a table or column name`);
  return `"${identifier}"`;
}

interface Context {
  dialect: Dialect;
  source: string;
  survey: Survey;
  loginFields: LoginFieldSpec[];
  identifiers: IdentifierField[];
  summary: ImportSummary;
  options: ImportOptions;
}

/**
 * Copies Django's users, groups and permissions into portcullis, taking nothing it did not create.
 *
 * First every Django user is checked (surveyDjangoUsers): a user it imported before (its recorded
 * origin) is updated, a free Django id is kept, an id that belongs to another portcullis user refuses
 * the import (or, with remapIds, gets a new id), and an identifier another account has is never taken
 * over (the user is skipped, or imported without that email). Then users go in id order, a batch per
 * transaction with their login keys and origins, so an interrupted run leaves whole users behind it
 * and a second run picks up where the first stopped.
 */
export async function importDjango(handle: DatabaseHandle, source: DjangoSource, options: ImportOptions = {}): Promise<ImportSummary> {
  const userTable = options.userTable ?? 'auth_user';
  const batchSize = options.batchSize ?? 1000;
  const columns = await source.columns(userTable);
  if (!columns.length) throw new Error(`the Django database has no table "${userTable}" (a custom user model? pass --user-table).`);
  const userFields = options.userFields ?? {};
  const plan = columnPlan(columns, options.map ?? {}, userFields);
  const imported = plan.fields.map(([, field]) => field);
  const loginFields = (options.loginFields ?? DEFAULT_LOGIN_FIELDS).filter((f) => imported.includes(f.field));
  const identifiers = identifierFields(imported, options.loginFields ?? DEFAULT_LOGIN_FIELDS, userFields);
  const sourceId = await djangoSourceId(source, userTable, options.sourceName);
  const summary: ImportSummary = {
    dryRun: Boolean(options.dryRun),
    refused: false,
    source: sourceId,
    users: { imported: 0, updated: 0, unchanged: 0, skipped: 0, withoutEmail: 0, remapped: 0 },
    groups: { imported: 0, updated: 0 },
    permissions: { imported: 0, updated: 0 },
    conflicts: [],
    unmappedColumns: plan.unmapped,
  };

  const readUsers = (fields: Array<[string, string]>) => async (visit: (rows: Row[]) => Promise<void>) => {
    const select = `select ${['id', ...fields.map(([col]) => col)].map(quote).join(', ')} from ${quote(userTable)} where "id" > ? order by "id" limit ${batchSize}`;
    let lastId = -1;
    for (;;) {
      const rows = await source.query(select, [lastId]);
      if (!rows.length) return;
      lastId = Number(rows[rows.length - 1]!.id);
      await visit(rows);
    }
  };
  const identifierColumns = plan.fields.filter(([, field]) => identifiers.some((i) => i.field === field));
  const survey = await surveyDjangoUsers(
    handle.db,
    (visit) => readUsers(identifierColumns)((rows) => visit(rows.map((r) => ({ id: Number(r.id), values: toUserRow(r, identifierColumns, userFields) })))),
    { source: sourceId, fields: identifiers, remapIds: Boolean(options.remapIds) },
  );
  summary.conflicts = survey.conflicts;
  summary.users.skipped = survey.skip.size;
  summary.users.remapped = survey.newIds.size;
  summary.users.withoutEmail = [...survey.clear.values()].filter((fields) => fields.includes('email')).length;
  if (survey.idTaken > survey.newIds.size) {
    summary.refused = true;
    return summary;
  }
  const context: Context = { dialect: handle.dialect, source: sourceId, survey, loginFields, identifiers, summary, options };

  const run = async (db: Target) => {
    const maps = await importGroupsAndPermissions(db, source, summary);
    const total = Number((await source.query(`select count(*) as n from ${quote(userTable)}`))[0]?.n ?? 0);
    let done = 0;
    let batches = 0;
    await readUsers(plan.fields)(async (rows) => {
      const users = rows.map((r) => toUserRow(r, plan.fields, userFields));
      const lo = users[0]!.id;
      const hi = users[users.length - 1]!.id;
      const memberships = {
        groups: groupBy(await source.query(`select "user_id", "group_id" from ${quote(userTable + '_groups')} where "user_id" between ? and ?`, [lo, hi]), 'user_id', (r) => maps.groups.get(Number(r.group_id))),
        perms: groupBy(await source.query(`select "user_id", "permission_id" from ${quote(userTable + '_user_permissions')} where "user_id" between ? and ?`, [lo, hi]), 'user_id', (r) => maps.permissions.get(Number(r.permission_id))),
      };
      if (options.dryRun) await importBatch(db, users, memberships, context);
      else await importBatchSafely(db as Kysely<Database>, users, memberships, context);
      done += rows.length;
      batches++;
      // A table that grew from nothing has no statistics yet; without them PostgreSQL plans the
      // per-batch lookups as full scans and the import slows down as it goes.
      if (handle.dialect === 'postgres' && !options.dryRun && (batches === 1 || batches % 50 === 0)) {
        await sql`analyze auth_user`.execute(db);
        await sql`analyze portcullis_login_key`.execute(db);
      }
      options.onProgress?.({ done, total: Math.max(total, done) });
    });
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
  summary.conflicts.sort((a, b) => a.djangoId - b.djangoId);
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


/** What a batch's failed transaction must give back to the summary before its users are tried one by one. */
function snapshot(summary: ImportSummary) {
  return { users: { ...summary.users }, conflicts: summary.conflicts.length };
}

function restore(summary: ImportSummary, saved: ReturnType<typeof snapshot>): void {
  summary.users = { ...saved.users };
  summary.conflicts.length = saved.conflicts;
}

/**
 * A batch in one transaction. Should it break a unique rule the checks could not foresee (a
 * custom unique field, say, or a row another process wrote meanwhile), each user of the batch is
 * retried in a transaction of its own and the offending ones are reported as skipped.
 */
async function importBatchSafely(db: Kysely<Database>, users: UserRow[], memberships: Memberships, context: Context) {
  const { summary } = context;
  const before = snapshot(summary);
  try {
    await db.transaction().execute((trx) => importBatch(trx, users.map((u) => ({ ...u })), memberships, context));
  } catch (err) {
    if (!isUniqueViolation(err) || users.length === 1) throw err;
    restore(summary, before);
    for (const user of users) {
      const single = snapshot(summary);
      try {
        await db.transaction().execute((trx) => importBatch(trx, [{ ...user }], memberships, context));
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        restore(summary, single);
        summary.users.skipped++;
        summary.conflicts.push({
          djangoId: user.id,
          username: user.username,
          kind: 'changed',
          action: 'skipped',
          message: `a unique field collides with another portcullis user (${(e as Error).message.slice(0, 120)})`,
        });
      }
    }
  }
}

/**
 * Writes one batch as the survey decided, after checking again inside the transaction that every
 * portcullis row it touches is still free or still its own (another process may have written since).
 */
async function importBatch(db: Target, users: UserRow[], memberships: Memberships, context: Context): Promise<void> {
  const { survey, source, summary, options } = context;
  const wanted = users.filter((u) => !survey.skip.has(u.id));
  if (!wanted.length) return;
  for (const user of wanted) for (const field of survey.clear.get(user.id) ?? []) user[field] = null;
  const djangoIds = wanted.map((u) => u.id);
  const own = await usersFromDjango(db, source, djangoIds);
  const lookup = [...new Set([...djangoIds, ...own.values(), ...survey.newIds.values()])];
  const existing = new Map<number, Record<string, unknown>>();
  for (const r of await db.selectFrom('auth_user').selectAll().where('id', 'in', lookup).execute()) existing.set(Number(r.id), r as unknown as Record<string, unknown>);
  // An origin whose user is gone (deleted behind the import's back) names nobody.
  const targetOf = (djangoId: number) => {
    const mine = own.get(djangoId);
    return mine !== undefined && existing.has(mine) ? mine : (survey.newIds.get(djangoId) ?? djangoId);
  };
  const origins = await originsOf(db, [...new Set(djangoIds.map(targetOf))]);
  const identifiers = new Map(wanted.map((u) => [u.id, identifiersOf(u, context.identifiers)]));
  const holders = await holdersOf(db, [...identifiers.values()].flat());

  const targets = [...existing.keys()].filter((id) => origins.get(id)?.source === source);
  const haveGroups = targets.length
    ? groupBy(await db.selectFrom('auth_user_groups').select(['user_id', 'group_id']).where('user_id', 'in', targets).execute(), 'user_id', (r) => Number(r.group_id))
    : new Map<number, number[]>();
  const havePerms = targets.length
    ? groupBy(await db.selectFrom('auth_user_user_permissions').select(['user_id', 'permission_id']).where('user_id', 'in', targets).execute(), 'user_id', (r) => Number(r.permission_id))
    : new Map<number, number[]>();

  const creates: Array<{ djangoId: number; row: UserRow }> = [];
  const updates: Array<{ djangoId: number; row: UserRow }> = [];
  for (const user of wanted) {
    const djangoId = user.id;
    const id = targetOf(djangoId);
    const before = existing.get(id);
    const origin = origins.get(id);
    const changed = (message: string) => {
      summary.users.skipped++;
      summary.conflicts.push({ djangoId, username: user.username, kind: 'changed', action: 'skipped', message: `${message} (changed in portcullis during the import)` });
    };
    if (before && !(origin?.source === source && origin.djangoId === djangoId)) {
      changed(`id ${id} belongs to ${describeUser(id, String(before.username), origin, source)}`);
      continue;
    }
    const taken = identifiers.get(djangoId)!.find((i) => {
      const holder = holders.get(i.key);
      return holder !== undefined && holder.userId !== id;
    });
    if (taken) {
      changed(`${taken.field} ${taken.value} already belongs to portcullis user #${holders.get(taken.key)!.userId}`);
      continue;
    }
    const row = { ...user, id } as UserRow;
    if (before && options.keepPasswords) row.password = String(before.password);
    if (!before) {
      summary.users.imported++;
      creates.push({ djangoId, row });
      continue;
    }
    const groups = [...new Set(memberships.groups.get(djangoId) ?? [])];
    const perms = [...new Set(memberships.perms.get(djangoId) ?? [])];
    const differs = Object.keys(row).some((k) => normalise(before[k]) !== normalise(row[k]));
    if (!differs && sameSet(haveGroups.get(id) ?? [], groups) && sameSet(havePerms.get(id) ?? [], perms)) {
      summary.users.unchanged++;
      continue;
    }
    summary.users.updated++;
    updates.push({ djangoId, row });
  }
  const writes = [...creates, ...updates];
  if (!writes.length) return;

  const columns = Object.keys(writes[0]!.row);
  const perInsert = Math.max(1, Math.floor(30_000 / columns.length));
  // New users are plain inserts: an id someone took meanwhile fails (and is reported), never overwritten.
  for (let i = 0; i < creates.length; i += perInsert) {
    await db.insertInto('auth_user').values(creates.slice(i, i + perInsert).map((w) => w.row) as never).execute();
  }
  // Updates only reach users whose origin is this Django row, checked above in this transaction.
  for (let i = 0; i < updates.length; i += perInsert) {
    const insert = db.insertInto('auth_user').values(updates.slice(i, i + perInsert).map((w) => w.row) as never);
    const others = columns.filter((c) => c !== 'id');
    await (context.dialect === 'mysql'
      ? insert.onDuplicateKeyUpdate(Object.fromEntries(others.map((c) => [c, sql`values(${sql.ref(c)})`])) as never)
      : insert.onConflict((oc) => oc.column('id').doUpdateSet(Object.fromEntries(others.map((c) => [c, sql.ref(`excluded.${c}`)])) as never))
    ).execute();
  }

  const written = writes.map((w) => w.row.id);
  await db.deleteFrom('auth_user_groups').where('user_id', 'in', written).execute();
  await db.deleteFrom('auth_user_user_permissions').where('user_id', 'in', written).execute();
  const groupRows = writes.flatMap((w) => [...new Set(memberships.groups.get(w.djangoId) ?? [])].map((group_id) => ({ user_id: w.row.id, group_id })));
  const permRows = writes.flatMap((w) => [...new Set(memberships.perms.get(w.djangoId) ?? [])].map((permission_id) => ({ user_id: w.row.id, permission_id })));
  for (let i = 0; i < groupRows.length; i += 10_000) await db.insertInto('auth_user_groups').values(groupRows.slice(i, i + 10_000)).execute();
  for (let i = 0; i < permRows.length; i += 10_000) await db.insertInto('auth_user_user_permissions').values(permRows.slice(i, i + 10_000)).execute();

  await writeImportedLoginKeys(db, writes.map((w) => w.row), context.loginFields);

  if (creates.length) {
    await db.deleteFrom('portcullis_user_origin').where('source', '=', source).where('django_id', 'in', creates.map((w) => w.djangoId)).execute();
    const originRows = creates.map((w) => ({ user_id: w.row.id, source, django_id: w.djangoId }));
    for (let i = 0; i < originRows.length; i += 10_000) await db.insertInto('portcullis_user_origin').values(originRows.slice(i, i + 10_000)).execute();
  }
}

/**
 * writeLoginKeys for a batch at once: the keys of the imported login fields are replaced; a value
 * equal to one of the user's own keys of a field the import does not write is already named by it.
 */
async function writeImportedLoginKeys(db: Target, rows: UserRow[], loginFields: LoginFieldSpec[]): Promise<void> {
  if (!loginFields.length) return;
  const ids = rows.map((r) => r.id);
  await db.deleteFrom('portcullis_login_key').where('user_id', 'in', ids).where('field', 'in', loginFields.map((f) => f.field)).execute();
  const keys = rows.flatMap((r) => loginKeyRows(r.id, r, loginFields));
  const kept = new Set(
    (await db.selectFrom('portcullis_login_key').select(['key_hash', 'user_id']).where('user_id', 'in', ids).execute()).map((k) => `${Number(k.user_id)}:${k.key_hash}`),
  );
  const fresh = keys.filter((k) => !kept.has(`${k.user_id}:${k.key_hash}`));
  for (let i = 0; i < fresh.length; i += 10_000) await db.insertInto('portcullis_login_key').values(fresh.slice(i, i + 10_000)).execute();
}

function normalise(value: unknown): string {
  return value === null || value === undefined ? '' : typeof value === 'boolean' ? String(Number(value)) : String(value);
}
