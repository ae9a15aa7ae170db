import { hasJoinedUserRead, hasUserIndex, type DataPatch, type SessionData, type SessionRecord, type SessionStore } from './base.js';
import { defaultKeyScheme, generatePublicId, type SessionKeyScheme } from './keys.js';

export interface SessionOptions {
  /** Seconds a session lives (PORTCULLIS_SESSION_AGE). */
  sessionAge: number;
  /** last_seen_at is written at most this often, so reads stay reads. */
  touchIntervalMs?: number;
  /** Seconds without a request after which a session ends (PORTCULLIS_SESSION_IDLE_TIMEOUT); 0 or absent: never. */
  idleTimeout?: number;
}

export interface NewSession {
  userId: number | null;
  backend: string | null;
  authHash: string | null;
  persistent: boolean;
  ip?: string | null;
  userAgent?: string | null;
  data?: SessionData;
}

/** A signed-in user's session, or an anonymous one (a visitor's data, a login waiting for its next step). */
export type SessionKind = 'user' | 'anonymous';

/** Told of every session this object starts and ends (the metrics' session counts). */
export interface SessionObserver {
  started(kind: SessionKind): void;
  ended(kind: SessionKind, count: number): void;
}

const kindOf = (userId: number | null): SessionKind => (userId === null ? 'anonymous' : 'user');

export interface IssuedSession {
  key: string;
  record: SessionRecord;
}

/** Session life cycle over any store: issue, load, cycle the key, end. */
export class Sessions {
  private readonly touchIntervalMs: number;
  readonly keys: SessionKeyScheme;
  private readonly listeners: ((userId: number | null) => void | Promise<void>)[] = [];
  /** Null (the default) counts nothing. */
  observer: SessionObserver | null = null;

  constructor(
    readonly store: SessionStore,
    private readonly options: SessionOptions,
  ) {
    const idleMs = (options.idleTimeout ?? 0) * 1000;
    // With an idle timeout, last_seen_at must be fresh enough to judge it (a quarter of the timeout).
    this.touchIntervalMs = options.touchIntervalMs ?? (idleMs ? Math.min(60_000, Math.floor(idleMs / 4)) : 60_000);
    this.keys = store.keyScheme ?? defaultKeyScheme;
  }

  /**
   * Called with the user (null: anonymous) of every session this object ends, revokes or changes, once
   * the store has it; the change's caller waits for a listener's promise (telling other instances).
   */
  onChange(listener: (userId: number | null) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  private async changed(userId: number | null): Promise<void> {
    for (const listener of this.listeners) await listener(userId);
  }

  /**
   * Could `load` answer with this record unchanged? It has not expired and is not yet due for its
   * last-seen write (which comes well before any idle timeout).
   */
  isCurrent(record: SessionRecord, now = Date.now()): boolean {
    return record.expiresAt > now && now - record.lastSeenAt < this.touchIntervalMs;
  }

  get ageMs(): number {
    return this.options.sessionAge * 1000;
  }

  async create(input: NewSession, now = Date.now(), expiresAt = now + this.ageMs): Promise<IssuedSession> {
    const draft: Omit<SessionRecord, 'keyHash'> = {
      publicId: generatePublicId(),
      userId: input.userId,
      backend: input.backend,
      authHash: input.authHash,
      data: input.data ?? {},
      createdAt: now,
      lastSeenAt: now,
      expiresAt,
      persistent: input.persistent,
      ip: input.ip?.slice(0, 64) ?? null,
      userAgent: input.userAgent?.slice(0, 512) ?? null,
    };
    const key = this.keys.generate(input.userId, draft);
    const record: SessionRecord = { keyHash: this.keys.storageId(key), ...draft };
    await this.store.create(record);
    this.observer?.started(kindOf(input.userId));
    return { key, record };
  }

  /**
   * The live session behind a raw key, or null; malformed keys never reach the store. The session row
   * alone: an application session reads it on every request, and already knows its user.
   */
  async load(key: string | undefined, now = Date.now()): Promise<SessionRecord | null> {
    if (!key || !this.keys.isWellFormed(key)) return null;
    return this.live(await this.store.get(this.keys.storageId(key), now), now);
  }

  /**
   * Like load; where the store can, the user's row comes along in the same round trip (`userRow`
   * undefined means the store could not, and the caller looks the user up itself).
   */
  async loadWithUserRow(
    key: string | undefined,
    now = Date.now(),
  ): Promise<{ record: SessionRecord; userRow?: Record<string, unknown> | null } | null> {
    if (!key || !this.keys.isWellFormed(key)) return null;
    const storageId = this.keys.storageId(key);
    if (!hasJoinedUserRead(this.store)) {
      const record = await this.live(await this.store.get(storageId, now), now);
      return record && { record };
    }
    const loaded = await this.store.getWithUserRow(storageId, now);
    const record = await this.live(loaded?.record ?? null, now);
    return record && loaded ? { record, userRow: loaded.userRow } : null;
  }

  /** The record unless its idle timeout has passed (then it is deleted); its last-seen time kept current. */
  private async live(record: SessionRecord | null, now: number): Promise<SessionRecord | null> {
    if (!record) return null;
    if (this.options.idleTimeout && now - record.lastSeenAt > this.options.idleTimeout * 1000) {
      await this.store.delete(record.keyHash);
      this.observer?.ended(kindOf(record.userId), 1);
      return null;
    }
    if (now - record.lastSeenAt >= this.touchIntervalMs) {
      record.lastSeenAt = now;
      await this.store.touch(record.keyHash, now);
    }
    return record;
  }

  /** A new key for the same session (login, password change): the old key stops working at once. */
  async cycle(record: SessionRecord, changes: Partial<NewSession> = {}, now = Date.now(), expiresAt?: number): Promise<IssuedSession> {
    await this.end(record);
    return this.create(
      {
        userId: changes.userId !== undefined ? changes.userId : record.userId,
        backend: changes.backend !== undefined ? changes.backend : record.backend,
        authHash: changes.authHash !== undefined ? changes.authHash : record.authHash,
        persistent: changes.persistent ?? record.persistent,
        ip: changes.ip ?? record.ip,
        userAgent: changes.userAgent ?? record.userAgent,
        data: changes.data ?? record.data,
      },
      now,
      expiresAt,
    );
  }

  async end(record: SessionRecord): Promise<void> {
    await this.store.delete(record.keyHash);
    this.observer?.ended(kindOf(record.userId), 1);
    await this.changed(record.userId);
  }

  /** A new expiry for a live session (an application's set_expiry). */
  /**
   * Applies an application's changes to a session's data. A logged-in session's data rides in the
   * auth cache with its user, so the change is announced like any other (this instance's cache and,
   * through the change channel, every other instance's forget that user) before the request that
   * made it is answered.
   */
  async patchData(record: SessionRecord, patch: DataPatch): Promise<void> {
    await this.store.patchData(record.keyHash, patch);
    if (record.userId !== null) await this.changed(record.userId);
  }

  async setExpiry(record: SessionRecord, expiresAt: number, persistent: boolean): Promise<void> {
    await this.store.setExpiry(record.keyHash, expiresAt, persistent);
    await this.changed(record.userId);
  }

  // The per-user operations need a store with a UserSessionIndex. One without (signed cookies) finds
  // no session of a user: it lists none, revokes none and ends none, and a password upgrade has no
  // server-side copy to follow. A password change still ends such sessions, because each request
  // checks the session's auth hash against the user's password; and the listeners still hear of the
  // user, so the auth cache forgets what it had judged valid.

  /** The user's live sessions, most recently seen first. */
  async list(userId: number, now = Date.now()): Promise<SessionRecord[]> {
    return hasUserIndex(this.store) ? this.store.listForUser(userId, now) : [];
  }

  /** Ends one of the user's sessions by its public id; false when the user has none by that id. */
  async revoke(userId: number, publicId: string): Promise<boolean> {
    const revoked = hasUserIndex(this.store) ? await this.store.deleteByPublicId(userId, publicId) : false;
    if (revoked) this.observer?.ended('user', 1);
    await this.changed(userId);
    return revoked;
  }

  /** Ends every session of the user but `except`; returns how many ended. */
  async endAllForUser(userId: number, except?: SessionRecord): Promise<number> {
    const ended = hasUserIndex(this.store) ? await this.store.deleteForUser(userId, except?.keyHash) : 0;
    if (ended > 0) this.observer?.ended('user', ended);
    await this.changed(userId);
    return ended;
  }

  /** After a password-hash upgrade (same password, new hash): the user's sessions stay valid. */
  async followPasswordUpgrade(userId: number, oldAuthHash: string, newAuthHash: string): Promise<void> {
    if (hasUserIndex(this.store)) await this.store.updateAuthHash(userId, oldAuthHash, newAuthHash);
  }

  clearExpired(now = Date.now()): Promise<number> {
    return this.store.clearExpired(now);
  }
}
