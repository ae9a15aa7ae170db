import type { Kysely, Migration } from 'kysely';

/** Throttle counters (src/throttle/sql.ts) for deployments whose state lives in the database. */
export const throttle = (): Migration => ({
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('portcullis_throttle')
      .addColumn('key', 'varchar(80)', (c) => c.primaryKey())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addColumn('blocked_until', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('portcullis_throttle_expires_idx').on('portcullis_throttle').column('expires_at').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('portcullis_throttle').ifExists().execute();
  },
});
