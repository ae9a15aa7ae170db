import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { toEpochMs, type DjangoSource } from './source.js';

type Executor = Kysely<Database> | Transaction<Database>;

/**
 * The name under which a Django database's users are recorded (portcullis_user_origin.source).
 *
 * It comes from the database itself: the first row of `django_migrations`, written when `migrate`
 * first ran there. That survives what a URL does not (a new host, a password, a dump restored
 * elsewhere, a relative SQLite path) and tells apart what a URL cannot (a database dropped and made
 * again at the same address holds other people under the same ids). Django's SECRET_KEY would name
 * the app rather than the database, changes on rotation, and the import does not otherwise need it.
 * A copy of the same database (a staging clone) is the same source, as its ids name the same people.
 * `--source NAME` names a database that has no migration history, or carries a name over to a
 * database Django was moved into.
 */
export async function djangoSourceId(source: DjangoSource, userTable: string, name?: string): Promise<string> {
  if (name !== undefined) {
    if (!/^[\w.:@-]{1,100}$/.test(name)) throw new Error(`--source takes letters, digits and . _ : @ - (at most 100), not "${name}".`);
    return `${name}/${userTable}`;
  }
  const none = 'has no migration history (django_migrations) to tell it apart from another database; name it with --source NAME, the same name on every run.';
  if (!(await source.columns('django_migrations')).length) throw new Error(`the Django database ${none}`);
  const [first] = await source.query('select "app", "name", "applied" from "django_migrations" order by "id" limit 1');
  if (!first) throw new Error(`the Django database ${none}`);
  const digest = createHash('sha256').update(`${String(first.app)}\0${String(first.name)}\0${toEpochMs(first.applied)}`).digest('hex');
  return `django-${digest.slice(0, 16)}/${userTable}`;
}

export interface Origin {
  userId: number;
  source: string;
  djangoId: number;
}

const CHUNK = 5000;

/** The portcullis users that came from these Django ids of `source`, by Django id. */
export async function usersFromDjango(db: Executor, source: string, djangoIds: number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (let i = 0; i < djangoIds.length; i += CHUNK) {
    const rows = await db
      .selectFrom('portcullis_user_origin')
      .select(['user_id', 'django_id'])
      .where('source', '=', source)
      .where('django_id', 'in', djangoIds.slice(i, i + CHUNK))
      .execute();
    for (const r of rows) out.set(Number(r.django_id), Number(r.user_id));
  }
  return out;
}

/** Where these portcullis users came from (users without an origin are portcullis's own). */
export async function originsOf(db: Executor, userIds: number[]): Promise<Map<number, Origin>> {
  const out = new Map<number, Origin>();
  for (let i = 0; i < userIds.length; i += CHUNK) {
    const rows = await db.selectFrom('portcullis_user_origin').selectAll().where('user_id', 'in', userIds.slice(i, i + CHUNK)).execute();
    for (const r of rows) out.set(Number(r.user_id), { userId: Number(r.user_id), source: r.source, djangoId: Number(r.django_id) });
  }
  return out;
}

/** How many imported users carry a portcullis id other than their Django id (--remap-ids). */
export async function remappedUserCount(db: Executor): Promise<number> {
  const row = await db
    .selectFrom('portcullis_user_origin')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .whereRef('user_id', '!=', 'django_id')
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
