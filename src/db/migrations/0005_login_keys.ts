import type { Kysely, Migration } from 'kysely';

/**
 * One row per login identifier (username, email, phone: the configured login fields) in the one
 * normal form of src/users/normalize.ts `loginKey`, hashed to a fixed width so that no collation
 * gets a say. Its primary key is what makes one identifier name at most one account, across fields
 * and against two registrations racing. The rows are filled from auth_user by `syncLoginKeys`.
 */
export const loginKeys = (): Migration => ({
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('portcullis_login_key')
      .addColumn('key_hash', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('user_id', 'integer', (c) => c.notNull())
      .addColumn('field', 'varchar(64)', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('portcullis_login_key_user_idx').on('portcullis_login_key').column('user_id').execute();
    await db.schema
      .createTable('portcullis_meta')
      .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('portcullis_login_key').ifExists().execute();
    await db.schema.dropTable('portcullis_meta').ifExists().execute();
  },
});
