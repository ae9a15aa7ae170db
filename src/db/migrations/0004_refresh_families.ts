import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Refresh-token families as rows of their own, so that a revocation is recorded once for the family
 * and reaches its tokens stored later too (a rotation that raced the revocation). Existing families
 * are filled in from their tokens: one revoked token revokes its family, as revokeFamily would have.
 */
export const refreshFamilies = (): Migration => ({
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('portcullis_refresh_family')
      .addColumn('family_id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('user_id', 'integer', (c) => c.notNull())
      .addColumn('auth_hash', 'varchar(16)')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .execute();
    await db.schema.createIndex('portcullis_refresh_family_user_idx').on('portcullis_refresh_family').column('user_id').execute();
    await sql`insert into portcullis_refresh_family (family_id, user_id, created_at, expires_at, revoked_at)
      select family_id, min(user_id), min(created_at), max(expires_at), max(revoked_at)
      from portcullis_refresh_token group by family_id`.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('portcullis_refresh_family').ifExists().execute();
  },
});
