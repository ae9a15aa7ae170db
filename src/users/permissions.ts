import type { DatabaseHandle } from '../db/connect.js';
import { insertIgnoringDuplicate, insertReturningId } from '../db/portable.js';
import type { User } from './types.js';

/**
 * Groups and permissions as in Django's ModelBackend: a permission is named `app_label.codename`;
 * an active superuser has every permission, an inactive user none.
 */
export class Permissions {
  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  async ensurePermission(name: string, label = name): Promise<number> {
    const [app_label, codename] = splitPerm(name);
    const found = await this.db
      .selectFrom('auth_permission')
      .select('id')
      .where('app_label', '=', app_label)
      .where('codename', '=', codename)
      .executeTakeFirst();
    if (found) return Number(found.id);
    return insertReturningId(this.handle, 'auth_permission', { app_label, codename, name: label });
  }

  async ensureGroup(name: string): Promise<number> {
    const found = await this.db.selectFrom('auth_group').select('id').where('name', '=', name).executeTakeFirst();
    if (found) return Number(found.id);
    return insertReturningId(this.handle, 'auth_group', { name });
  }

  async addUserToGroup(userId: number, group: string): Promise<void> {
    const group_id = await this.ensureGroup(group);
    await insertIgnoringDuplicate(this.handle, 'auth_user_groups', { user_id: userId, group_id }, ['user_id', 'group_id']);
  }

  async removeUserFromGroup(userId: number, group: string): Promise<void> {
    const found = await this.db.selectFrom('auth_group').select('id').where('name', '=', group).executeTakeFirst();
    if (!found) return;
    await this.db.deleteFrom('auth_user_groups').where('user_id', '=', userId).where('group_id', '=', Number(found.id)).execute();
  }

  async setUserGroups(userId: number, groups: string[]): Promise<void> {
    const ids = await Promise.all(groups.map((g) => this.ensureGroup(g)));
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('auth_user_groups').where('user_id', '=', userId).execute();
      if (ids.length) await trx.insertInto('auth_user_groups').values(ids.map((group_id) => ({ user_id: userId, group_id }))).execute();
    });
  }

  async grantToUser(userId: number, perm: string): Promise<void> {
    const permission_id = await this.ensurePermission(perm);
    await insertIgnoringDuplicate(this.handle, 'auth_user_user_permissions', { user_id: userId, permission_id }, ['user_id', 'permission_id']);
  }

  async setUserPermissions(userId: number, perms: string[]): Promise<void> {
    const ids = await Promise.all(perms.map((p) => this.ensurePermission(p)));
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('auth_user_user_permissions').where('user_id', '=', userId).execute();
      if (ids.length) {
        await trx.insertInto('auth_user_user_permissions').values(ids.map((permission_id) => ({ user_id: userId, permission_id }))).execute();
      }
    });
  }

  async grantToGroup(group: string, perm: string): Promise<void> {
    const group_id = await this.ensureGroup(group);
    const permission_id = await this.ensurePermission(perm);
    await insertIgnoringDuplicate(this.handle, 'auth_group_permissions', { group_id, permission_id }, ['group_id', 'permission_id']);
  }

  async userGroups(userId: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('auth_user_groups as ug')
      .innerJoin('auth_group as g', 'g.id', 'ug.group_id')
      .select('g.name')
      .where('ug.user_id', '=', userId)
      .orderBy('g.name')
      .execute();
    return rows.map((r) => r.name);
  }

  /** The user's own permissions (ModelBackend.get_user_permissions). */
  async userPermissions(userId: number): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('auth_user_user_permissions as up')
      .innerJoin('auth_permission as p', 'p.id', 'up.permission_id')
      .select(['p.app_label', 'p.codename'])
      .where('up.user_id', '=', userId)
      .execute();
    return new Set(rows.map((r) => `${r.app_label}.${r.codename}`));
  }

  /** Permissions that come through the user's groups (ModelBackend.get_group_permissions). */
  async groupPermissions(userId: number): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('auth_user_groups as ug')
      .innerJoin('auth_group_permissions as gp', 'gp.group_id', 'ug.group_id')
      .innerJoin('auth_permission as p', 'p.id', 'gp.permission_id')
      .select(['p.app_label', 'p.codename'])
      .where('ug.user_id', '=', userId)
      .execute();
    return new Set(rows.map((r) => `${r.app_label}.${r.codename}`));
  }

  async allPermissions(user: User): Promise<Set<string>> {
    if (!user.is_active) return new Set();
    const [own, viaGroups] = await Promise.all([this.userPermissions(user.id), this.groupPermissions(user.id)]);
    return new Set([...own, ...viaGroups]);
  }

  async hasPerm(user: User, perm: string): Promise<boolean> {
    if (!user.is_active) return false;
    if (user.is_superuser) return true;
    return (await this.allPermissions(user)).has(perm);
  }

  /** Django's has_module_perms: any permission in that app. */
  async hasModulePerms(user: User, appLabel: string): Promise<boolean> {
    if (!user.is_active) return false;
    if (user.is_superuser) return true;
    for (const p of await this.allPermissions(user)) if (p.startsWith(appLabel + '.')) return true;
    return false;
  }
}

function splitPerm(perm: string): [string, string] {
  const dot = perm.indexOf('.');
  if (dot <= 0 || dot === perm.length - 1) throw new Error(`a permission is named "app_label.codename", not "${perm}"`);
  return [perm.slice(0, dot), perm.slice(dot + 1)];
}
