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
 */
export interface SessionStore {
  readonly name: string;
  /** The store's own key format; the default (random key, SHA-256 stored) when absent. */
  readonly keyScheme?: SessionKeyScheme;
  /** True when a session cannot change in place (signed cookies): every change issues a new key. */
  readonly immutable?: boolean;
  /** A tighter limit on session data than the default 64 KiB (signed cookies). */
  readonly maxDataBytes?: number;
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
  deleteByPublicId(userId: number, publicId: string): Promise<boolean>;
  /** Ends every session of a user, but the one named; returns how many ended. */
  deleteForUser(userId: number, exceptKeyHash?: string): Promise<number>;
  listForUser(userId: number, now: number): Promise<SessionRecord[]>;
  /** After a password hash upgrade, keeps the user's sessions valid under the new hash. */
  updateAuthHash(userId: number, oldHash: string, newHash: string): Promise<void>;
  clearExpired(now: number): Promise<number>;
  /**
   * Optional: the session together with its `auth_user` row in one round trip (stores that live in
   * the same database as the users); null userRow when the user is gone or the session anonymous.
   */
  getWithUserRow?(storageId: string, now: number): Promise<{ record: SessionRecord; userRow: Record<string, unknown> | null } | null>;
  /** Throws when the store cannot be reached (readiness probe). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
