import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { CustomFieldSpec, LoginFieldSpec } from '../config.js';
import { syncLoginKeys, type SyncResult } from '../users/login-keys.js';
import type { Dialect, DatabaseHandle } from './connect.js';
import { initial } from './migrations/0001_initial.js';
import { tokens } from './migrations/0002_tokens.js';
import { throttle } from './migrations/0003_throttle.js';
import { refreshFamilies } from './migrations/0004_refresh_families.js';
import { loginKeys } from './migrations/0005_login_keys.js';
import { userOrigin } from './migrations/0006_user_origin.js';

class CodeMigrations implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return {
      '0001_initial': initial(this.dialect),
      '0002_tokens': tokens(),
      '0003_throttle': throttle(),
      '0004_refresh_families': refreshFamilies(),
      '0005_login_keys': loginKeys(),
      '0006_user_origin': userOrigin(),
    };
  }
}

export interface MigrateResult {
  applied: string[];
  addedFields: string[];
  /** Existing accounts whose identifier an older account already names (see syncLoginKeys). */
  loginKeyConflicts: SyncResult['conflicts'];
}

/**
 * Runs every pending migration in order, adds the columns of custom user fields not there yet, then
 * brings the login keys up to date with the configured login fields.
 */
export async function migrate(handle: DatabaseHandle, userFields: Record<string, CustomFieldSpec>, loginFields: LoginFieldSpec[]): Promise<MigrateResult> {
  const migrator = new Migrator({
    db: handle.db,
    provider: new CodeMigrations(handle.dialect),
    migrationTableName: 'portcullis_migration',
    migrationLockTableName: 'portcullis_migration_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  const addedFields = await addCustomFields(handle.db as unknown as Kysely<unknown>, userFields);
  const { conflicts: loginKeyConflicts } = await syncLoginKeys(handle, loginFields);
  return { applied, addedFields, loginKeyConflicts };
}

const COLUMN_TYPES = { string: 'varchar', integer: 'bigint', boolean: 'integer' } as const;

/**
 * A custom field is the config file's own migration: adding `phone: {type: 'string', unique: true}`
 * adds a nullable column and a unique index (NULLs never collide, so users without one coexist).
 */
async function addCustomFields(db: Kysely<unknown>, fields: Record<string, CustomFieldSpec>): Promise<string[]> {
  const tables = await db.introspection.getTables();
  const userTable = tables.find((t) => t.name === 'auth_user');
  const existing = new Set(userTable?.columns.map((c) => c.name) ?? []);
  const added: string[] = [];
  for (const [name, spec] of Object.entries(fields)) {
    if (existing.has(name)) continue;
    const type = spec.type === 'string' ? sql.raw(`varchar(${spec.maxLength ?? 255})`) : sql.raw(COLUMN_TYPES[spec.type]);
    await db.schema.alterTable('auth_user').addColumn(name, type).execute();
    if (spec.unique) {
      await db.schema.createIndex(`auth_user_${name}_uniq`).on('auth_user').column(name).unique().execute();
    }
    added.push(name);
  }
  return added;
}
