import { ConfigError, type PortcullisConfig } from '../config.js';
import { connectDatabase, type DatabaseHandle } from '../db/connect.js';
import type { PasswordHashers } from '../passwords/index.js';
import { UserManager, type UserManagerOptions } from '../users/manager.js';
import type { User } from '../users/types.js';
import { remappedUserCount } from './origin.js';
import { DjangoSessionStore } from './session-store.js';

/**
 * PORTCULLIS_SESSION_STORE=django: sessions live in Django's `django_session` table (in
 * PORTCULLIS_DJANGO_DATABASE_URL, or portcullis's own database when that is unset), signed with
 * PORTCULLIS_DJANGO_SECRET_KEY, so a login on either app holds on both.
 */
export async function openDjangoSessionStore(config: PortcullisConfig, database: DatabaseHandle): Promise<DjangoSessionStore> {
  if (!config.djangoSecretKey) {
    throw new ConfigError('PORTCULLIS_SESSION_STORE=django needs PORTCULLIS_DJANGO_SECRET_KEY: the SECRET_KEY of the Django app that shares the sessions.');
  }
  await refuseRemappedUsers(database);
  const own = config.djangoDatabaseUrl && config.djangoDatabaseUrl !== config.databaseUrl;
  const handle = own ? connectDatabase(config.djangoDatabaseUrl!) : database;
  const store = new DjangoSessionStore(handle, config.djangoSecretKey, config.sessionAge * 1000, Boolean(own));
  try {
    await store.ensureTable();
  } catch (err) {
    if (own) await handle.close();
    throw err;
  }
  return store;
}

/**
 * Django's sessions name their user by Django's id (`_auth_user_id`), and this mode reads that id as
 * portcullis's: a user imported under another id (import-django --remap-ids) would have its Django
 * sessions open someone else's account, so the mode does not start while there is one.
 */
async function refuseRemappedUsers(database: DatabaseHandle): Promise<void> {
  let remapped: number;
  try {
    remapped = await remappedUserCount(database.db);
  } catch (err) {
    // Migrations not run (createPortcullis({migrate: false})): no import has recorded anything here.
    if (/no such table|does not exist|doesn't exist/i.test((err as Error).message)) return;
    throw err;
  }
  if (remapped) {
    throw new ConfigError(
      `PORTCULLIS_SESSION_STORE=django: ${remapped} users were imported under ids other than their Django ids (import-django --remap-ids), and Django's sessions name users by Django's id. Use another session store, or import into a database where the Django ids are free.`,
    );
  }
}

/**
 * While both apps run, a password hash portcullis writes (a change, a reset, the upgrade at first
 * login) is written to Django's auth_user too: each side checks sessions against its own copy of
 * the hash, and the two copies must stay one.
 */
export class DjangoMirroredUserManager extends UserManager {
  constructor(
    handle: DatabaseHandle,
    hashers: PasswordHashers,
    options: UserManagerOptions,
    private readonly django: DjangoSessionStore,
  ) {
    super(handle, hashers, options);
  }

  override async setPassword(user: User, password: string | null): Promise<User> {
    const updated = await super.setPassword(user, password);
    await this.django.mirrorPassword(updated.id, updated.password);
    return updated;
  }

  override checkPassword(user: User, password: string, onUpgrade?: (old: string, updated: string) => Promise<void>): Promise<boolean> {
    return super.checkPassword(user, password, async (old, updated) => {
      await this.django.mirrorPassword(user.id, updated);
      await onUpgrade?.(old, updated);
    });
  }
}
