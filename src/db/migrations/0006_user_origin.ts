import type { Kysely, Migration } from 'kysely';

/**
 * Where an imported user came from: row `django_id` of the Django database (and user table) that
 * `source` names (src/django/origin.ts). A re-import updates the user its origin names and nothing
 * else, and a Django id may be imported under another portcullis id (--remap-ids) without losing
 * track of it. Users portcullis created itself have no row.
 */
export const userOrigin = (): Migration => ({
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('portcullis_user_origin')
      .addColumn('user_id', 'integer', (c) => c.primaryKey())
      .addColumn('source', 'varchar(200)', (c) => c.notNull())
      .addColumn('django_id', 'integer', (c) => c.notNull())
      .addUniqueConstraint('portcullis_user_origin_source_django_id', ['source', 'django_id'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('portcullis_user_origin').ifExists().execute();
  },
});
