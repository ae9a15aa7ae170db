import type { Portcullis } from '../portcullis.js';
import { ApiError, validationError, type FieldErrors } from '../errors.js';
import { toPublicUser, type PublicUser, type User } from '../users/types.js';

/**
 * The user administration of Django's UserAdmin, as plain functions over the core: the admin API
 * and the /admin/ pages both call these, so the permission rules exist once.
 *
 * Who may do what: an active staff member may enter at all (Django's AdminSite.has_permission);
 * then each action needs its model permission through Permissions.hasPerm (superusers have all).
 * On top of Django, only a superuser may grant or take away is_superuser or touch a superuser,
 * so change_user cannot be turned into the keys to everything.
 */

export type AdminAction = 'view' | 'add' | 'change' | 'delete';

export type AdminUser = PublicUser & {
  groups: string[];
  permissions: string[];
};

export interface AdminUserList {
  users: PublicUser[];
  count: number;
  page: number;
  page_size: number;
}

/** What an admin form or API body may carry: profile fields, flags, groups, direct permissions, a new password. */
export interface AdminUserInput {
  groups?: string[];
  permissions?: string[];
  password?: string | null;
  [field: string]: unknown;
}

export type AdminRights = Record<AdminAction, boolean>;

const PERMISSION_NAME = /^[A-Za-z0-9_]{1,100}\.[A-Za-z0-9_]{1,100}$/;
const PRIVILEGED = ['is_staff', 'is_superuser', 'groups', 'permissions'] as const;

export class UserAdmin {
  private readonly profileFields: Set<string>;

  constructor(private readonly portcullis: Portcullis) {
    this.profileFields = new Set(['username', 'email', 'first_name', 'last_name', 'is_active', 'is_staff', 'is_superuser', ...Object.keys(portcullis.config.userFields)]);
  }

  /** Staff at all: Django's AdminSite.has_permission. Anything else is 403 before any action is looked at. */
  isStaff(actor: User): boolean {
    return actor.is_active && actor.is_staff;
  }

  /** The actions the actor may take, for pages that show only the buttons that will work. */
  async rights(actor: User): Promise<AdminRights> {
    if (!this.isStaff(actor)) return { view: false, add: false, change: false, delete: false };
    const has = (codename: string) => this.portcullis.permissions.hasPerm(actor, `auth.${codename}`);
    const [view, add, change, del] = await Promise.all([has('view_user'), has('add_user'), has('change_user'), has('delete_user')]);
    // Django: whoever may change may also view.
    return { view: view || change, add, change, delete: del };
  }

  async require(actor: User, action: AdminAction): Promise<AdminRights> {
    const rights = await this.rights(actor);
    if (!rights[action]) throw new ApiError('permission_denied');
    return rights;
  }

  async list(actor: User, query: { search?: string; page?: number; pageSize?: number }): Promise<AdminUserList> {
    await this.require(actor, 'view');
    const found = await this.portcullis.users.list(query);
    return { users: found.users.map(toPublicUser), count: found.count, page: found.page, page_size: found.pageSize };
  }

  async get(actor: User, id: number): Promise<AdminUser> {
    await this.require(actor, 'view');
    return this.describe(await this.find(id));
  }

  async create(actor: User, input: AdminUserInput): Promise<AdminUser> {
    const rights = await this.require(actor, 'add');
    // Django's add form carries only a username and a password; flags, groups and permissions are on
    // the change form, so setting them at creation needs change_user as well.
    if (PRIVILEGED.some((f) => input[f] !== undefined && input[f] !== false) && !rights.change) throw new ApiError('permission_denied');
    if (input.is_superuser === true && !actor.is_superuser) throw new ApiError('permission_denied');
    const { groups, permissions, password, profile } = this.clean(input, false);
    if (typeof password === 'string') this.portcullis.validateNewPassword('password', password, profile);
    const { users } = this.portcullis;
    const user = await users.createUser({ ...profile, username: profile.username as string, password: password ?? null });
    await this.setMemberships(user.id, groups, permissions);
    return this.describe(user);
  }

  async update(actor: User, id: number, input: AdminUserInput): Promise<AdminUser> {
    await this.require(actor, 'change');
    const target = await this.find(id);
    this.guardSuperuser(actor, target, input.is_superuser);
    if (input.password === null) throw validationError({ password: ['required'] });
    const { groups, permissions, password, profile } = this.clean(input, true);
    const { users } = this.portcullis;
    if (typeof password === 'string') this.portcullis.validateNewPassword('password', password, { ...target, ...profile });
    let user = await users.update(id, profile);
    await this.setMemberships(id, groups, permissions);
    // A new password ends every session and token of the user, as a password change does.
    if (typeof password === 'string') user = (await this.portcullis.changePassword(user, password)).user;
    // Deactivation takes effect now, not when the sessions happen to expire.
    if (target.is_active && !user.is_active) await this.portcullis.endEverything(id);
    return this.describe(user);
  }

  async delete(actor: User, id: number): Promise<void> {
    await this.require(actor, 'delete');
    this.guardSuperuser(actor, await this.find(id));
    await this.portcullis.deleteUser(id);
  }

  /** Ends every session and refresh token of the user; returns how many sessions ended. */
  async revokeSessions(actor: User, id: number): Promise<number> {
    await this.require(actor, 'change');
    this.guardSuperuser(actor, await this.find(id));
    return this.portcullis.endEverything(id);
  }

  private async find(id: number): Promise<User> {
    const user = await this.portcullis.users.getById(id);
    if (!user) throw new ApiError('not_found');
    return user;
  }

  private guardSuperuser(actor: User, target: User, isSuperuser?: unknown): void {
    if (actor.is_superuser) return;
    if (target.is_superuser) throw new ApiError('permission_denied');
    if (isSuperuser !== undefined && isSuperuser !== target.is_superuser) throw new ApiError('permission_denied');
  }

  private async describe(user: User): Promise<AdminUser> {
    const { permissions } = this.portcullis;
    const [groups, own] = await Promise.all([permissions.userGroups(user.id), permissions.userPermissions(user.id)]);
    return Object.assign(toPublicUser(user), { groups, permissions: [...own].sort() });
  }

  private async setMemberships(id: number, groups?: string[], permissions?: string[]): Promise<void> {
    if (groups) await this.portcullis.permissions.setUserGroups(id, groups);
    if (permissions) await this.portcullis.permissions.setUserPermissions(id, permissions);
  }

  /**
   * Splits an input into its parts and checks all of them before anything is written, so a form
   * shows every problem at once and a bad group name never leaves a half-applied change behind.
   */
  private clean(input: AdminUserInput, partial: boolean) {
    const errors: FieldErrors = {};
    const fail = (field: string, id: string) => (errors[field] ??= []).push(id);
    const profile: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(input)) {
      if (key === 'groups' || key === 'permissions' || key === 'password') continue;
      if (!this.profileFields.has(key)) fail(key, 'unknown_field');
      else profile[key] = value;
    }
    const groups = this.names(input.groups, 'groups', fail, (g) => g.length > 0 && g.length <= 150 && !g.includes('\0'), 'invalid_group');
    const permissions = this.names(input.permissions, 'permissions', fail, (p) => PERMISSION_NAME.test(p), 'invalid_permission');
    let password: string | null | undefined;
    if (input.password === null) password = null;
    else if (input.password !== undefined) {
      try {
        password = this.portcullis.users.checkPasswordInput('password', input.password);
      } catch (err) {
        if (!(err instanceof ApiError) || !err.fields) throw err;
        for (const id of err.fields.password ?? []) fail('password', id);
      }
    }
    try {
      this.portcullis.users.cleanProfile(profile, partial);
    } catch (err) {
      if (!(err instanceof ApiError) || !err.fields) throw err;
      for (const [field, ids] of Object.entries(err.fields)) for (const id of ids) fail(field, id);
    }
    if (Object.keys(errors).length) throw validationError(errors);
    return { groups, permissions, password, profile };
  }

  private names(value: unknown, field: string, fail: (f: string, id: string) => void, valid: (s: string) => boolean, problem: string): string[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) return fail(field, 'invalid_type'), undefined;
    const names = [...new Set(value.map((v) => v.trim()))];
    if (!names.every(valid)) return fail(field, problem), undefined;
    return names;
  }
}
