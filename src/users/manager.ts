import { sql, type Selectable } from 'kysely';
import type { Statement } from 'better-sqlite3';
import type { CustomFieldSpec, LoginFieldSpec } from '../config.js';
import type { DatabaseHandle } from '../db/connect.js';
import type { UserTable } from '../db/schema.js';
import { insertReturningId } from '../db/portable.js';
import type { Insertable, Updateable } from 'kysely';
import { ApiError, validationError, type FieldErrors } from '../errors.js';
import { MAX_PASSWORD_LENGTH, type PasswordHashers } from '../passwords/index.js';
import { isUniqueViolation } from '../db/errors.js';
import { isValidEmail, isValidUsername, loginKey, normalizeEmail, normalizeUsername } from './normalize.js';
import { identifierConflicts, loginKeyHash, writeLoginKeys } from './login-keys.js';
import { withHiddenPassword, type CreateUserInput, type FieldValue, type User } from './types.js';

export interface UserManagerOptions {
  userFields: Record<string, CustomFieldSpec>;
  loginFields: LoginFieldSpec[];
}

export interface ListUsersOptions {
  search?: string;
  page?: number;
  pageSize?: number;
}

export type UserPatch = Partial<Omit<CreateUserInput, 'password'>>;

const BUILTIN_TEXT = ['first_name', 'last_name'] as const;
const FLAGS = ['is_active', 'is_staff', 'is_superuser'] as const;

export class UserManager {
  private readonly customNames: string[];
  private byIdStatement: Statement | undefined;
  private readonly listeners: ((userId: number) => void | Promise<void>)[] = [];

  constructor(
    private readonly handle: DatabaseHandle,
    private readonly hashers: PasswordHashers,
    private readonly options: UserManagerOptions,
  ) {
    this.customNames = Object.keys(options.userFields);
  }

  private get db() {
    return this.handle.db;
  }

  /**
   * Called with the id of every user this manager changes or deletes, once the change is stored
   * (credential caches listen); the change's caller waits for a listener's promise.
   */
  onChange(listener: (userId: number) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  protected async changed(userId: number): Promise<void> {
    for (const listener of this.listeners) await listener(userId);
  }

  fromRow(row: Selectable<UserTable>): User {
    const fields: Record<string, FieldValue> = {};
    for (const name of this.customNames) {
      const spec = this.options.userFields[name]!;
      const value = (row as unknown as Record<string, FieldValue | undefined>)[name];
      fields[name] = value === undefined || value === null ? null : spec.type === 'boolean' ? Boolean(value) : value;
    }
    return withHiddenPassword({
      id: Number(row.id),
      username: row.username,
      email: row.email ?? '',
      first_name: row.first_name,
      last_name: row.last_name,
      is_active: Boolean(row.is_active),
      is_staff: Boolean(row.is_staff),
      is_superuser: Boolean(row.is_superuser),
      last_login: row.last_login === null ? null : new Date(Number(row.last_login)),
      date_joined: new Date(Number(row.date_joined)),
      password: row.password,
      fields,
    });
  }

  /**
   * Checks and normalises the profile part of an input (everything but the password). Collects every
   * field's problem at once, as a form would.
   */
  cleanProfile(input: Record<string, unknown>, partial: boolean): Record<string, unknown> {
    const errors: FieldErrors = {};
    const out: Record<string, unknown> = {};
    const fail = (field: string, msg: string) => (errors[field] ??= []).push(msg);
    const str = (field: string, value: unknown, max: number): string | undefined => {
      if (typeof value !== 'string') return fail(field, 'invalid_type'), undefined;
      if (value.includes('\0')) return fail(field, 'null_character'), undefined;
      if (value.length > max) return fail(field, `too_long|max=${max}`), undefined;
      return value;
    };
    if (!partial || input.username !== undefined) {
      if (input.username === undefined || input.username === '') fail('username', 'required');
      else {
        const raw = str('username', input.username, 150);
        if (raw !== undefined) {
          const username = normalizeUsername(raw);
          if (!isValidUsername(username)) fail('username', 'username_invalid');
          else out.username = username;
        }
      }
    }
    if (input.email !== undefined && input.email !== null && input.email !== '') {
      const raw = str('email', input.email, 254);
      if (raw !== undefined) {
        const email = normalizeEmail(raw);
        if (!isValidEmail(email)) fail('email', 'email_invalid');
        else out.email = email;
      }
    } else if (input.email === '' || input.email === null) out.email = null;
    for (const field of BUILTIN_TEXT) {
      if (input[field] !== undefined) {
        const v = str(field, input[field], 150);
        if (v !== undefined) out[field] = v;
      }
    }
    for (const field of FLAGS) {
      if (input[field] !== undefined) {
        if (typeof input[field] !== 'boolean') fail(field, 'invalid_type');
        else out[field] = input[field] ? 1 : 0;
      }
    }
    for (const [name, spec] of Object.entries(this.options.userFields)) {
      const value = input[name];
      if (value === undefined) continue;
      if (value === null || value === '') {
        out[name] = null;
        continue;
      }
      if (spec.type === 'string') {
        const v = str(name, value, spec.maxLength ?? 255);
        if (v === undefined) continue;
        if (spec.pattern && !new RegExp(spec.pattern, 'u').test(v)) fail(name, name === 'phone' ? 'phone_invalid' : 'invalid_type');
        else out[name] = v;
      } else if (spec.type === 'integer') {
        if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(name, 'invalid_type');
        else out[name] = value;
      } else if (typeof value !== 'boolean') fail(name, 'invalid_type');
      else out[name] = value ? 1 : 0;
    }
    if (Object.keys(errors).length) throw validationError(errors);
    return out;
  }

  /** Refuses what must never reach a hasher: over-long passwords and null characters. */
  checkPasswordInput(field: string, password: unknown): string {
    if (typeof password !== 'string' || password === '') throw validationError({ [field]: ['required'] });
    if (password.length > MAX_PASSWORD_LENGTH) throw validationError({ [field]: ['password_too_long'] });
    if (password.includes('\0')) throw validationError({ [field]: ['null_character'] });
    return password;
  }

  /**
   * Hashes the password itself (or stores an unusable one when none is given), as Django's create_user.
   * A taken identifier is refused before the hash is paid for; the key table's primary key settles two
   * registrations racing for the same one.
   */
  async createUser(input: CreateUserInput): Promise<User> {
    const profile = this.cleanProfile(input, false);
    const password = input.password == null ? null : this.checkPasswordInput('password', input.password);
    await this.refuseTaken(profile);
    const encoded = await this.hashers.makePassword(password);
    const row = {
      password: encoded,
      last_login: null,
      is_superuser: 0,
      is_staff: 0,
      is_active: 1,
      first_name: '',
      last_name: '',
      email: null,
      date_joined: Date.now(),
      ...profile,
    } as Insertable<UserTable>;
    let id: number;
    try {
      id = await this.db.transaction().execute(async (trx) => {
        const inserted = await insertReturningId({ db: trx, dialect: this.handle.dialect }, 'auth_user', row);
        await writeLoginKeys(trx, inserted, row as Record<string, unknown>, this.options.loginFields);
        return inserted;
      });
    } catch (err) {
      throw await this.conflictFrom(err, profile);
    }
    return (await this.getById(id))!;
  }

  /**
   * 409 `conflict` when a value is taken: a login identifier that names another account in the one
   * normal form (whatever field it is there), or another unique column's value.
   */
  async refuseTaken(values: Record<string, unknown>, exceptUserId?: number): Promise<void> {
    const errors: FieldErrors = {};
    for (const { field } of await identifierConflicts(this.db, values, this.options.loginFields, exceptUserId)) errors[field] = [takenMessage(field)];
    const login = new Set(this.options.loginFields.map((f) => f.field));
    const unique = ['username', 'email', ...this.customNames.filter((n) => this.options.userFields[n]!.unique)].filter((f) => !login.has(f) && !errors[f]);
    for (const field of unique) {
      const value = values[field];
      if (typeof value !== 'string' && typeof value !== 'number') continue;
      let query = this.db.selectFrom('auth_user').select('id');
      query = field === 'email' ? query.where(sql`lower(email)`, '=', String(value).toLowerCase()) : query.where(sql.ref(field), '=', value);
      if (exceptUserId !== undefined) query = query.where('id', '!=', exceptUserId);
      if (await query.executeTakeFirst()) errors[field] = [takenMessage(field)];
    }
    if (Object.keys(errors).length) throw new ApiError('conflict', undefined, errors);
  }

  async createSuperuser(input: CreateUserInput): Promise<User> {
    return this.createUser({ ...input, is_staff: true, is_superuser: true, is_active: true });
  }

  /**
   * Turns a unique-constraint violation into the contract's 409, naming the field that collided: the
   * race lost after refuseTaken passed, so asking again names it.
   */
  private async conflictFrom(err: unknown, values: Record<string, unknown>, exceptUserId?: number): Promise<unknown> {
    if (!isUniqueViolation(err)) return err;
    try {
      await this.refuseTaken(values, exceptUserId);
    } catch (conflict) {
      return conflict;
    }
    const text = String((err as Error).message) + ' ' + String((err as { detail?: string; constraint?: string }).detail ?? '') + ' ' + String((err as { constraint?: string }).constraint ?? '');
    const candidates = ['username', 'email', ...this.customNames];
    const field = candidates.find((f) => new RegExp(`\\b(auth_user\\.)?${f}\\b|auth_user_${f}`).test(text)) ?? candidates.find((f) => values[f] != null) ?? 'username';
    return new ApiError('conflict', undefined, { [field]: [takenMessage(field)] });
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async getById(id: number): Promise<User | null> {
    if (!Number.isSafeInteger(id)) return null;
    // The per-request lookup behind every session: prepared once on SQLite (see SqlSessionStore.get).
    if (this.handle.sqlite) {
      this.byIdStatement ??= this.handle.sqlite.prepare('SELECT * FROM auth_user WHERE id = ?');
      const row = this.byIdStatement.get(id) as Selectable<UserTable> | undefined;
      return row ? this.fromRow(row) : null;
    }
    const row = await this.db.selectFrom('auth_user').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? this.fromRow(row) : null;
  }

  async getByUsername(username: string): Promise<User | null> {
    const row = await this.db
      .selectFrom('auth_user')
      .selectAll()
      .where('username', '=', normalizeUsername(username))
      .executeTakeFirst();
    return row ? this.fromRow(row) : null;
  }

  /**
   * Resolves a login identifier: its normal form (src/users/normalize.ts `loginKey`) names at most one
   * account, through whichever login field; a field whose configured pattern the identifier does not
   * match does not count.
   */
  async getByLogin(identifier: string): Promise<User | null> {
    const found = await this.idByLogin(identifier);
    return found === null ? null : this.getById(found);
  }

  /**
   * The accounts with this email address (Django's `email__iexact`): through the login keys when email
   * is a login field (the one normal form, Unicode case included; one account at most), else by SQL's
   * case-insensitive comparison.
   */
  async getByEmail(email: string): Promise<User[]> {
    if (!email) return [];
    if (this.options.loginFields.some((f) => f.field === 'email')) {
      const row = await this.db.selectFrom('portcullis_login_key').select(['user_id', 'field']).where('key_hash', '=', loginKeyHash(email)).executeTakeFirst();
      // The row may be tagged with another field of the same user (a username that is also the email).
      const user = row ? await this.getById(Number(row.user_id)) : null;
      return user && user.email && loginKey(user.email) === loginKey(email) ? [user] : [];
    }
    const rows = await this.db.selectFrom('auth_user').selectAll().where(sql`lower(email)`, '=', email.toLowerCase()).limit(10).execute();
    return rows.map((r) => this.fromRow(r));
  }

  /** The id of the account a login identifier names, or null. */
  async idByLogin(identifier: string): Promise<number | null> {
    if (!identifier) return null;
    const row = await this.db.selectFrom('portcullis_login_key').select(['user_id', 'field']).where('key_hash', '=', loginKeyHash(identifier)).executeTakeFirst();
    if (!row) return null;
    const spec = this.options.loginFields.find((f) => f.field === row.field);
    // The field's pattern judges the identifier as typed, less what the normal form drops anyway.
    if (!spec || (spec.pattern && !spec.pattern.test(identifier.normalize('NFKC').replace(/\s+/gu, '')))) return null;
    return Number(row.user_id);
  }

  /** Hashes and stores a new password (null makes it unusable); returns the updated user. */
  async setPassword(user: User, password: string | null): Promise<User> {
    const raw = password === null ? null : this.checkPasswordInput('password', password);
    const encoded = await this.hashers.makePassword(raw);
    await this.db.updateTable('auth_user').set({ password: encoded }).where('id', '=', user.id).execute();
    await this.changed(user.id);
    // A spread leaves the hidden password behind: it is set again, hidden.
    return withHiddenPassword({ ...user, password: encoded });
  }

  /**
   * Checks a password against the stored hash; a correct password stored under an old algorithm or
   * cost is re-hashed with the preferred hasher (`onUpgrade` lets sessions follow the new hash).
   */
  async checkPassword(user: User, password: string, onUpgrade?: (old: string, updated: string) => Promise<void>): Promise<boolean> {
    return this.hashers.checkPassword(password, user.password, async (raw) => {
      const encoded = await this.hashers.makePassword(raw);
      // Only replace the hash we verified: a concurrent password change must win over an upgrade.
      const result = await this.db
        .updateTable('auth_user')
        .set({ password: encoded })
        .where('id', '=', user.id)
        .where('password', '=', user.password)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) {
        await this.changed(user.id);
        const old = user.password;
        user.password = encoded;
        await onUpgrade?.(old, encoded);
      }
    });
  }

  async updateLastLogin(user: User, when = new Date()): Promise<void> {
    await this.db.updateTable('auth_user').set({ last_login: when.getTime() }).where('id', '=', user.id).execute();
    await this.changed(user.id);
    user.last_login = when;
  }

  /** Changes profile fields; an identifier another account has is 409 `conflict`, checked in the same normal form as the login. */
  async update(id: number, patch: UserPatch): Promise<User> {
    const values = this.cleanProfile(patch, true);
    if (Object.keys(values).length) {
      await this.refuseTaken(values, id);
      try {
        await this.db.transaction().execute(async (trx) => {
          await trx.updateTable('auth_user').set(values as Updateable<UserTable>).where('id', '=', id).execute();
          await writeLoginKeys(trx, id, values, this.options.loginFields);
        });
      } catch (err) {
        throw await this.conflictFrom(err, values, id);
      }
      await this.changed(id);
    }
    const user = await this.getById(id);
    if (!user) throw new ApiError('not_found');
    return user;
  }

  async delete(id: number): Promise<boolean> {
    const deleted = await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('auth_user_groups').where('user_id', '=', id).execute();
      await trx.deleteFrom('auth_user_user_permissions').where('user_id', '=', id).execute();
      await trx.deleteFrom('portcullis_login_key').where('user_id', '=', id).execute();
      // A later user may get this id again (SQLite reuses the highest); it must not inherit the origin.
      await trx.deleteFrom('portcullis_user_origin').where('user_id', '=', id).execute();
      const result = await trx.deleteFrom('auth_user').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
    await this.changed(id);
    return deleted;
  }

  async list(options: ListUsersOptions = {}): Promise<{ users: User[]; count: number; page: number; pageSize: number }> {
    const page = Math.max(1, Math.floor(options.page ?? 1));
    const pageSize = Math.min(200, Math.max(1, Math.floor(options.pageSize ?? 50)));
    let query = this.db.selectFrom('auth_user');
    const search = options.search?.trim();
    if (search) {
      // '!' as the LIKE escape: a backslash means something else inside MySQL string literals.
      const like = `%${search.replace(/[!%_]/g, (c) => '!' + c)}%`;
      query = query.where((eb) =>
        eb.or(['username', 'email', 'first_name', 'last_name'].map((f) => eb(sql`lower(${sql.ref(f)})`, 'like', sql`lower(${like}) escape '!'`))),
      );
    }
    const [{ count } = { count: 0 }] = await query.select((eb) => eb.fn.countAll<number>().as('count')).execute();
    const rows = await query
      .selectAll()
      .orderBy('id')
      .limit(pageSize)
      .offset((page - 1) * pageSize)
      .execute();
    return { users: rows.map((r) => this.fromRow(r)), count: Number(count), page, pageSize };
  }
}

function takenMessage(field: string): string {
  return field === 'username' || field === 'email' || field === 'phone' ? `${field}_taken` : 'field_taken';
}
