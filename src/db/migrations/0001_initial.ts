import { sql, type ColumnDefinitionBuilder, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../connect.js';

/** Django's auth tables, shaped like `django.contrib.auth`'s own so that imports map one to one. */
export const initial = (dialect: Dialect): Migration => ({
  async up(db: Kysely<unknown>) {
    // PostgreSQL spells an auto-incrementing key as a type of its own.
    const idType = dialect === 'postgres' ? 'serial' : 'integer';
    const id = (c: ColumnDefinitionBuilder) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement());
    await db.schema
      .createTable('auth_user')
      .addColumn('id', idType, id)
      .addColumn('password', 'varchar(255)', (c) => c.notNull())
      .addColumn('last_login', 'bigint')
      .addColumn('is_superuser', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('username', 'varchar(150)', (c) => c.notNull().unique())
      .addColumn('first_name', 'varchar(150)', (c) => c.notNull().defaultTo(''))
      .addColumn('last_name', 'varchar(150)', (c) => c.notNull().defaultTo(''))
      .addColumn('email', 'varchar(254)')
      .addColumn('is_staff', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('is_active', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('date_joined', 'bigint', (c) => c.notNull())
      .execute();
    // One account per mailbox whatever the letter case; lookups compare the same lower-cased form.
    // MySQL/MariaDB compare case-insensitively already (and MariaDB has no expression indexes).
    const emailIndex = db.schema.createIndex('auth_user_email_uniq').on('auth_user').unique();
    await (dialect === 'mysql' ? emailIndex.column('email') : emailIndex.expression(sql`lower(email)`)).execute();
    await db.schema
      .createTable('auth_group')
      .addColumn('id', idType, id)
      .addColumn('name', 'varchar(150)', (c) => c.notNull().unique())
      .execute();
    await db.schema
      .createTable('auth_permission')
      .addColumn('id', idType, id)
      .addColumn('name', 'varchar(255)', (c) => c.notNull())
      .addColumn('app_label', 'varchar(100)', (c) => c.notNull())
      .addColumn('codename', 'varchar(100)', (c) => c.notNull())
      .addUniqueConstraint('auth_permission_app_codename', ['app_label', 'codename'])
      .execute();
    for (const [table, left, right] of [
      ['auth_user_groups', 'user_id', 'group_id'],
      ['auth_group_permissions', 'group_id', 'permission_id'],
      ['auth_user_user_permissions', 'user_id', 'permission_id'],
    ] as const) {
      await db.schema
        .createTable(table)
        .addColumn('id', idType, id)
        .addColumn(left, 'integer', (c) => c.notNull())
        .addColumn(right, 'integer', (c) => c.notNull())
        .addUniqueConstraint(`${table}_pair`, [left, right])
        .execute();
      await db.schema.createIndex(`${table}_${right}_idx`).on(table).column(right).execute();
    }
    await db.schema
      .createTable('portcullis_session')
      .addColumn('key_hash', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('public_id', 'varchar(32)', (c) => c.notNull().unique())
      .addColumn('user_id', 'integer')
      .addColumn('backend', 'varchar(100)')
      .addColumn('auth_hash', 'varchar(128)')
      .addColumn('data', dialect === 'mysql' ? sql`mediumtext` : 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('persistent', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('ip', 'varchar(64)')
      .addColumn('user_agent', 'varchar(512)')
      .execute();
    await db.schema.createIndex('portcullis_session_user_idx').on('portcullis_session').column('user_id').execute();
    await db.schema.createIndex('portcullis_session_expires_idx').on('portcullis_session').column('expires_at').execute();
  },
  async down(db: Kysely<unknown>) {
    for (const t of [
      'portcullis_session',
      'auth_user_user_permissions',
      'auth_group_permissions',
      'auth_user_groups',
      'auth_permission',
      'auth_group',
      'auth_user',
    ]) {
      await db.schema.dropTable(t).ifExists().execute();
    }
  },
});
