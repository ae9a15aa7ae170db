/**
 * A short-lived, in-process memory of credentials already checked: the session key (or access token)
 * a request presents maps to the user it resolved to a moment ago, so a burst of requests costs one
 * store lookup instead of one each.
 *
 * The bound on staleness is the whole design:
 * - every change this process makes to a user or its sessions (logout, password change, deactivation,
 *   deletion, a revoked session, a profile edit) forgets that user's entries at once;
 * - a change another instance makes reaches this one through the shared store's change channel
 *   (see ../auth/change-channel.ts), which calls forgetUser here, or clear() when messages may have
 *   been missed; whatever no channel carries (straight SQL, the Django app in shared-session mode)
 *   is seen within `ttlMs` at most, because no entry outlives it;
 * - callers consult it only for safe requests (GET, HEAD, OPTIONS): a request that changes
 *   something always checks the store, so a revoked session can never act, only read, for that long.
 *
 * Nulls are never remembered, so a bad key always goes to the store. A credential is remembered only
 * the second time it is checked within the TTL: one seen once (a crawl over many sessions, each used
 * once) would only fill the heap with entries nobody asks for again, and entries that live a second
 * are exactly what a generational garbage collector handles worst. The first sightings are kept as
 * times in a fixed typed array indexed by a hash of the key, so they allocate nothing.
 *
 * Entries sit in insertion order, which with one TTL for all is also expiry order: expired ones are
 * swept from the front on insert, and when `maxEntries` is reached the oldest goes first.
 */
const SEEN_SLOTS = 1 << 14;

/** FNV-1a over the key's UTF-16 code units: cheap, allocation-free and good enough to spread keys. */
function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class AuthCache<V> {
  private readonly entries = new Map<string, { value: V; userId: number; until: number }>();
  private readonly byUser = new Map<number, Set<string>>();
  /** Bumped by every forget: an answer read from the store before a change must not be kept after it. */
  private generation = 0;
  /** Until when a key hashing to each slot counts as seen once (a collision only admits a key early). */
  private readonly seenUntil = new Float64Array(SEEN_SLOTS);

  constructor(
    /** How long an entry may be served; 0 turns the cache off. */
    readonly ttlMs: number,
    readonly maxEntries = 10_000,
  ) {}

  get enabled(): boolean {
    return this.ttlMs > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Take this before reading the store and hand it to `set`, which drops the answer if anything changed meanwhile. */
  get version(): number {
    return this.generation;
  }

  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > now) return entry.value;
    this.remove(key, entry.userId);
    return undefined;
  }

  /**
   * Remembers `value` until `now + ttlMs`, or until `expiresAt` if that comes first, unless some user
   * changed since `version` was read (the value may predate that change).
   */
  set(key: string, value: V, userId: number, version: number, now: number, expiresAt = Infinity): void {
    if (!this.enabled || version !== this.generation || !this.seenBefore(key, now)) return;
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(key, old.userId);
    this.sweep(now);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.entries().next().value;
      if (oldest) this.remove(oldest[0], oldest[1].userId);
    }
    this.entries.set(key, { value, userId, until: Math.min(now + this.ttlMs, expiresAt) });
    let keys = this.byUser.get(userId);
    if (keys === undefined) this.byUser.set(userId, (keys = new Set()));
    keys.add(key);
  }

  /** Forgets one key (the store no longer knows it). */
  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry !== undefined) this.remove(key, entry.userId);
  }

  /** Forgets every entry of one user: called on any change to the user or to its sessions. */
  forgetUser(userId: number): void {
    this.generation++;
    const keys = this.byUser.get(userId);
    if (keys === undefined) return;
    for (const key of keys) this.entries.delete(key);
    this.byUser.delete(userId);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
    this.byUser.clear();
  }

  /** True if this key was checked within the TTL before; else notes that it was, now. */
  private seenBefore(key: string, now: number): boolean {
    const slot = hashKey(key) & (SEEN_SLOTS - 1);
    if (this.seenUntil[slot]! > now) return true;
    this.seenUntil[slot] = now + this.ttlMs;
    return false;
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.until > now) return;
      this.remove(key, entry.userId);
    }
  }

  private remove(key: string, userId: number): void {
    this.entries.delete(key);
    const keys = this.byUser.get(userId);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.byUser.delete(userId);
  }
}
