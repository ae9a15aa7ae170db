import type { Kysely, Migration } from 'kysely';

/** Signing keys for access tokens, and refresh tokens kept only as hashes. */
export const tokens = (): Migration => ({
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('portcullis_signing_key')
      .addColumn('kid', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('alg', 'varchar(16)', (c) => c.notNull())
      .addColumn('private_jwk', 'text', (c) => c.notNull())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('retired_at', 'bigint')
      .execute();
    await db.schema
      .createTable('portcullis_refresh_token')
      .addColumn('token_hash', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('family_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('user_id', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .execute();
    await db.schema.createIndex('portcullis_refresh_family_idx').on('portcullis_refresh_token').column('family_id').execute();
    await db.schema.createIndex('portcullis_refresh_user_idx').on('portcullis_refresh_token').column('user_id').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('portcullis_refresh_token').ifExists().execute();
    await db.schema.dropTable('portcullis_signing_key').ifExists().execute();
  },
});
