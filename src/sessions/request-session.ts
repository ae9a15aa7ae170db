import type { DataPatch, SessionData, SessionRecord } from './base.js';
import type { Sessions } from './manager.js';

/** Raised to the application when a value would push the session past its size limit; nothing is truncated. */
export class SessionTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`session data would be ${size} bytes, over the limit of ${limit}`);
    this.name = 'SessionTooLargeError';
  }
}

/** What the framework adapter must do with the cookie once the response is ready. */
export type CookieInstruction = { action: 'set'; key: string; maxAge: number | null } | { action: 'clear' };

export interface RequestSessionOptions {
  /** Bytes of JSON the data may take (default 64 KiB). */
  maxBytes?: number;
  /** Send the cookie on every request, not only when the session changed (SESSION_SAVE_EVERY_REQUEST). */
  saveEveryRequest?: boolean;
}

/** Session data is JSON: a deep copy costs nothing for the usual empty or small session. */
function copyData(data: SessionData): SessionData {
  for (const _ in data) return structuredClone(data);
  return {};
}

type Expiry = { expiresAt: number; persistent: boolean; maxAge: number | null };

/**
 * Django's request.session for applications: a dictionary that costs nothing until written. No key,
 * row or cookie exists until something is stored; reads create nothing; only the keys a request
 * changed are written back (per-key merge), so concurrent requests changing different keys keep
 * both writes. An emptied anonymous session deletes its row and its cookie.
 */
export class RequestSession {
  private data: SessionData;
  private patch: { clear: boolean; set: Map<string, unknown>; delete: Set<string> } = { clear: false, set: new Map(), delete: new Set() };
  private expiry: Expiry | null = null;
  private cycleRequested = false;
  /** Set when login or logout put another session (or none) under this request. */
  private replaced = false;
  /** True once the application looked inside: the answer then depends on the cookie (Vary: Cookie). */
  accessed = false;
  modified = false;
  private readonly maxBytes: number;

  constructor(
    private readonly sessions: Sessions,
    private record: SessionRecord | null,
    private readonly options: RequestSessionOptions = {},
    /** The raw key the record was loaded with, kept only to send the cookie again. */
    private key: string | null = null,
  ) {
    // The record may be the auth cache's, shared with other requests: this request works on its own
    // copy, so a value changed in place (a cart's array) never reaches another request unsaved.
    this.record = record && { ...record };
    this.data = record ? copyData(record.data) : {};
    this.maxBytes = Math.min(options.maxBytes ?? 64 * 1024, sessions.store.maxDataBytes ?? Infinity);
  }

  /** The session behind a cookie value, or an empty one that will only exist if written to. */
  static async load(sessions: Sessions, key: string | undefined, options?: RequestSessionOptions): Promise<RequestSession> {
    const record = await sessions.load(key);
    return new RequestSession(sessions, record, options, record ? key! : null);
  }

  /** The stored record, once the session exists. */
  get current(): SessionRecord | null {
    return this.record;
  }

  get userId(): number | null {
    return this.record?.userId ?? null;
  }

  get<T = unknown>(key: string): T | undefined {
    this.accessed = true;
    return this.data[key] as T | undefined;
  }

  has(key: string): boolean {
    this.accessed = true;
    return Object.hasOwn(this.data, key);
  }

  keys(): string[] {
    this.accessed = true;
    return Object.keys(this.data);
  }

  get isEmpty(): boolean {
    return Object.keys(this.data).length === 0;
  }

  set(key: string, value: unknown): void {
    // Keep exactly what a store would give back: JSON, checked for size now rather than at commit.
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError(`session value for "${key}" is not JSON-serialisable`);
    const next = { ...this.data, [key]: JSON.parse(json) as unknown };
    const size = Buffer.byteLength(JSON.stringify(next));
    if (size > this.maxBytes) throw new SessionTooLargeError(size, this.maxBytes);
    this.data = next;
    this.patch.set.set(key, next[key]);
    this.patch.delete.delete(key);
    this.touched();
  }

  delete(key: string): void {
    if (!Object.hasOwn(this.data, key)) return;
    const { [key]: _removed, ...rest } = this.data;
    this.data = rest;
    this.patch.set.delete(key);
    this.patch.delete.add(key);
    this.touched();
  }

  clear(): void {
    this.data = {};
    this.patch = { clear: true, set: new Map(), delete: new Set() };
    this.touched();
  }

  /**
   * Django's set_expiry: seconds from now, a Date, 0 for a cookie that ends with the browser (the
   * server still forgets it after the session age), or null for the default age.
   */
  setExpiry(value: number | Date | null): void {
    const now = Date.now();
    const age = this.sessions.ageMs;
    if (value === null) this.expiry = { expiresAt: now + age, persistent: true, maxAge: age / 1000 };
    else if (value === 0) this.expiry = { expiresAt: now + age, persistent: false, maxAge: null };
    else if (value instanceof Date) {
      this.expiry = { expiresAt: value.getTime(), persistent: true, maxAge: Math.max(0, Math.round((value.getTime() - now) / 1000)) };
    } else if (Number.isFinite(value) && value > 0) this.expiry = { expiresAt: now + value * 1000, persistent: true, maxAge: Math.round(value) };
    else throw new RangeError('setExpiry takes seconds (> 0), a Date, 0 or null');
    this.touched();
  }

  /** A new key for the same data (Django's cycle_key), e.g. on a privilege change. */
  cycleKey(): void {
    this.cycleRequested = true;
    this.touched();
  }

  /**
   * Login and logout swap the session under a request (a new key, or none): the cookie follows at
   * commit. Data of the new session is what login carried over.
   */
  replace(issued: { key: string; record: SessionRecord } | null): void {
    this.record = issued?.record ?? null;
    this.key = issued?.key ?? null;
    this.data = issued ? copyData(issued.record.data) : {};
    this.patch = { clear: false, set: new Map(), delete: new Set() };
    this.expiry = null;
    this.cycleRequested = false;
    this.replaced = true;
    this.accessed = true;
  }

  private touched(): void {
    this.accessed = true;
    this.modified = true;
  }

  /** Whether commit has anything to do: false for a session only read (or never looked at). */
  get needsCommit(): boolean {
    return this.replaced || this.modified || (this.options.saveEveryRequest === true && this.record !== null);
  }

  /**
   * Writes what changed and says what to do with the cookie; null means leave the cookie alone.
   * Called once, when the response is about to be sent.
   */
  async commit(): Promise<CookieInstruction | null> {
    if (this.replaced && !this.modified) {
      this.replaced = false;
      return this.record && this.key ? { action: 'set', key: this.key, maxAge: this.cookieAge(this.record) } : { action: 'clear' };
    }
    const record = this.record;
    if (!record) {
      if (!this.modified || this.isEmpty) return null;
      const expiry = this.expiry;
      const issued = await this.sessions.create(
        { userId: null, backend: null, authHash: null, persistent: expiry?.persistent ?? true, data: this.data },
        Date.now(),
        expiry?.expiresAt,
      );
      this.record = issued.record;
      this.key = issued.key;
      return { action: 'set', key: issued.key, maxAge: this.cookieAge(issued.record) };
    }
    if (this.modified && this.isEmpty && record.userId === null) {
      await this.sessions.end(record);
      this.record = null;
      this.key = null;
      return { action: 'clear' };
    }
    // A signed-cookie session cannot change in place: any change is a new cookie.
    if (this.cycleRequested || (this.modified && this.sessions.store.immutable)) {
      const issued = await this.sessions.cycle(record, { data: this.data, ...(this.expiry ? { persistent: this.expiry.persistent } : {}) }, Date.now(), this.expiry?.expiresAt);
      this.record = issued.record;
      this.key = issued.key;
      return { action: 'set', key: issued.key, maxAge: this.cookieAge(issued.record) };
    }
    if (!this.modified) return this.options.saveEveryRequest ? this.resend(record) : null;
    const patch: DataPatch = { clear: this.patch.clear, set: Object.fromEntries(this.patch.set), delete: [...this.patch.delete] };
    if (patch.clear || patch.delete!.length || Object.keys(patch.set!).length) await this.sessions.patchData(record, patch);
    if (this.expiry) {
      await this.sessions.setExpiry(record, this.expiry.expiresAt, this.expiry.persistent);
      record.expiresAt = this.expiry.expiresAt;
      record.persistent = this.expiry.persistent;
    }
    return this.resend(record);
  }

  /** The cookie carries the same key again with a fresh age (only the key's holder can ask for that). */
  private resend(record: SessionRecord): CookieInstruction | null {
    return this.key ? { action: 'set', key: this.key, maxAge: this.cookieAge(record) } : null;
  }

  private cookieAge(record: SessionRecord): number | null {
    return record.persistent ? Math.max(0, Math.round((record.expiresAt - Date.now()) / 1000)) : null;
  }
}
