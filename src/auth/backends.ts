import type { PasswordHashers } from '../passwords/index.js';
import type { UserManager } from '../users/manager.js';
import type { User } from '../users/types.js';

/** What a backend may know of the request that carries the credentials. */
export interface RequestInfo {
  ip?: string | null;
  userAgent?: string | null;
  headers?: Record<string, string | string[] | undefined>;
}

export type Credentials = Record<string, unknown>;

/** The services a backend may use; handed to it, so backends stay plain objects. */
export interface BackendContext {
  users: UserManager;
  hashers: PasswordHashers;
  /** Called after a password hash was upgraded, so existing sessions follow the new hash. */
  onPasswordUpgrade(user: User, oldHash: string, newHash: string): Promise<void>;
}

/**
 * An authentication backend (Django's AUTHENTICATION_BACKENDS entry). `authenticate` returns a user,
 * or null to let the next backend try; throwing PermissionDenied stops the walk. `accepts` says
 * whether these credentials are for this backend at all; a backend that does not accept them is
 * skipped without being asked.
 */
export interface AuthBackend {
  readonly name: string;
  accepts?(credentials: Credentials): boolean;
  /**
   * The identifier these credentials name (what the throttle counts), when it is not `username`,
   * `email` or `phone`; e.g. a badge number. Without one the credentials are counted per client.
   */
  identifier?(credentials: Credentials): string | undefined;
  authenticate(ctx: BackendContext, credentials: Credentials, request?: RequestInfo): Promise<User | null | undefined>;
  getUser(ctx: BackendContext, userId: number): Promise<User | null>;
}

/** Django's ModelBackend: username, email or phone and a password, checked against auth_user. */
export const modelBackend: AuthBackend = {
  name: 'model',
  accepts(credentials) {
    return typeof credentials.username === 'string' && typeof credentials.password === 'string';
  },
  async authenticate(ctx, credentials) {
    const identifier = credentials.username as string;
    const password = credentials.password as string;
    const user = await ctx.users.getByLogin(identifier);
    if (!user) {
      // Run the default password hasher once to reduce the timing difference between an existing
      // and a nonexistent user (Django #20760).
      await ctx.hashers.makePassword(password);
      return null;
    }
    const ok = await ctx.users.checkPassword(user, password, (oldHash, newHash) => ctx.onPasswordUpgrade(user, oldHash, newHash));
    // The inactive check comes after the hash so that it costs the same as a wrong password.
    return ok && user.is_active ? user : null;
  },
  async getUser(ctx, userId) {
    const user = await ctx.users.getById(userId);
    return user && user.is_active ? user : null;
  },
};

/** Backends that ship with portcullis, by the name the config uses. */
export const BUILTIN_BACKENDS: Record<string, AuthBackend> = { model: modelBackend };
