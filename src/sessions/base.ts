import type { SessionKeyScheme } from './keys.js';

export type SessionData = Record<string, unknown>;

/**
 * Changes to session data, applied key by key and atomically by the store, so two concurrent
 * requests of one visitor that change different keys both keep their writes.
 */
export interface DataPatch {
  /** Drop every key first (Django's session.clear()). */
  clear?: boolean;
  set?: Record<string, unknown>;
  delete?: string[];
}

export interface SessionRecord {
  keyHash: string;
  publicId: string;
  userId: number | null;
  backend: string | null;
  /** HMAC of the user's password hash at login; a password change makes it stale everywhere. */
  authHash: string | null;
  data: SessionData;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  /** False for a browser-session cookie (remember: false). */
  persistent: boolean;
  ip: string | null;
  userAgent: string | null;
}

/**
 * What every session store implements (Django's SessionBase, reduced to storage). Sessions are
 * named by their storage id (keyScheme.storageId of the key: by default its hash), so a store
 * never sees a raw session key unless its own format demands it.
 *
 * A store that can do more says so by implementing the optional capabilities below as well
 * (`class RedisSessionStore implements SessionStore, UserSessionIndex`); Sessions (manager.ts)
 * asks with `hasUserIndex` / `hasJoinedUserRead` and decides, in one place, what a store without
 * one answers. test/session-store-contract.test.ts holds every store to this contract.
 */
export interface SessionStore {
  readonly name: string;
  /** The store's own key format; the default (random key, SHA-256 stored) when absent. */
  readonly keyScheme?: SessionKeyScheme;
  /** True when a session cannot change in place (signed cookies): every change issues a new key. */
  readonly immutable?: boolean;
  /** A tighter limit on session data than the default 64 KiB (signed cookies). */
  readonly maxDataBytes?: number;
  /**
   * True when a program other than portcullis writes the same sessions (Django, in side-by-side
   * mode): no change channel carries its writes, so an application's session data is then read from
   * the store on every request, never from the auth cache's copy.
   */
  readonly writtenElsewhere?: boolean;
  create(record: SessionRecord): Promise<void>;
  /** The live session with this key hash, or null when there is none or it has expired. */
  get(keyHash: string, now: number): Promise<SessionRecord | null>;
  /** Records activity; `expiresAt` slides only when given. */
  touch(keyHash: string, lastSeenAt: number, expiresAt?: number): Promise<void>;
  /** Applies a data patch atomically; a session that no longer exists stays gone. */
  patchData(storageId: string, patch: DataPatch): Promise<void>;
  /** Changes when the session expires and whether its cookie outlives the browser (set_expiry). */
  setExpiry(storageId: string, expiresAt: number, persistent: boolean): Promise<void>;
  delete(keyHash: string): Promise<void>;
  /** Removes the expired sessions (clearsessions); returns how many went. */
  clearExpired(now: number): Promise<number>;
  /** Throws when the store cannot be reached (readiness probe). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Capability: the store can find a user's sessions, which is what listing them, revoking one, ending
 * all of them and following a password-hash upgrade need. A store that keeps nothing server-side
 * (signed cookies) cannot.
 */
export interface UserSessionIndex {
  /** The user's live sessions, most recently seen first. */
  listForUser(userId: number, now: number): Promise<SessionRecord[]>;
  /** Ends the user's session with this public id; false when the user has none by that id. */
  deleteByPublicId(userId: number, publicId: string): Promise<boolean>;
  /** Ends every session of a user, but the one named; returns how many ended. */
  deleteForUser(userId: number, exceptKeyHash?: string): Promise<number>;
  /** After a password hash upgrade, keeps the user's sessions valid under the new hash. */
  updateAuthHash(userId: number, oldHash: string, newHash: string): Promise<void>;
}

/**
 * Capability: the session together with its `auth_user` row in one round trip (stores that live in
 * the same database as the users).
 */
export interface JoinedUserRead {
  /** Like get; null userRow when the user is gone or the session anonymous. */
  getWithUserRow(storageId: string, now: number): Promise<{ record: SessionRecord; userRow: Record<string, unknown> | null } | null>;
}

export function hasUserIndex<S extends SessionStore>(store: S): store is S & UserSessionIndex {
  const s = store as Partial<UserSessionIndex>;
  return typeof s.listForUser === 'function' && typeof s.deleteByPublicId === 'function' && typeof s.deleteForUser === 'function' && typeof s.updateAuthHash === 'function';
}

export function hasJoinedUserRead<S extends SessionStore>(store: S): store is S & JoinedUserRead {
  return typeof (store as Partial<JoinedUserRead>).getWithUserRow === 'function';
}
