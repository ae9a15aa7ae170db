export type FieldValue = string | number | boolean | null;

export interface User {
  id: number;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  is_active: boolean;
  is_staff: boolean;
  is_superuser: boolean;
  last_login: Date | null;
  date_joined: Date;
  /** The encoded hash; it never leaves the server. */
  password: string;
  /** Custom fields declared in the config (phone by default). */
  fields: Record<string, FieldValue>;
}

/** What the API shows of a user: the contract's shape, custom fields flattened in. */
export interface PublicUser {
  id: number;
  username: string;
  email: string;
  phone: string | null;
  first_name: string;
  last_name: string;
  is_active: boolean;
  is_staff: boolean;
  is_superuser: boolean;
  date_joined: string;
  last_login: string | null;
  [custom: string]: FieldValue;
}

export interface CreateUserInput {
  username: string;
  password?: string | null;
  email?: string | null;
  first_name?: string;
  last_name?: string;
  is_active?: boolean;
  is_staff?: boolean;
  is_superuser?: boolean;
  [custom: string]: unknown;
}

/**
 * Makes a user's password hash invisible to serialisation (JSON.stringify, a logger, a spread): the
 * property stays readable and writable on the server, but is not enumerable, so a `res.json(user)`
 * or a log line never carries it. Every User the manager hands out goes through this.
 */
export function withHiddenPassword<T extends { password: string }>(user: T, password: string = user.password): T {
  Object.defineProperty(user, 'password', { value: password, enumerable: false, writable: true, configurable: true });
  return user;
}

/** What the API shows of a user: the contract's shape, custom fields flattened in. A new object each call. */
export function toPublicUser(user: User): PublicUser {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    phone: null,
    first_name: user.first_name,
    last_name: user.last_name,
    is_active: user.is_active,
    is_staff: user.is_staff,
    is_superuser: user.is_superuser,
    date_joined: user.date_joined.toISOString(),
    last_login: user.last_login ? user.last_login.toISOString() : null,
    ...user.fields,
  };
}

/** Where publicView keeps a user's view: on the user itself, hidden (a WeakMap entry per user read is garbage-collector work). */
const VIEW = Symbol('portcullis.publicView');
type Viewed = User & { [VIEW]?: { view: Readonly<PublicUser>; lastLogin: Date | null } };

/**
 * The same, for an answer that only serialises it: a user object served many times (the auth cache
 * hands out one object for a moment) is converted once, and again if a login stamped its last_login
 * in place since. The view is frozen: it is shared.
 */
export function publicView(user: User): Readonly<PublicUser> {
  const known = (user as Viewed)[VIEW];
  if (known !== undefined && known.lastLogin === user.last_login) return known.view;
  const view = Object.freeze(toPublicUser(user));
  // Not enumerable: JSON, a spread or a logger never see it.
  Object.defineProperty(user, VIEW, { value: { view, lastLogin: user.last_login }, enumerable: false, writable: true, configurable: true });
  return view;
}
