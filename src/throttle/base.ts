/**
 * A throttle counter: how many attempts a key has made in its current window, and until when it is
 * refused. Every store keeps these and applies `consume` atomically, so that many instances (and
 * many concurrent requests) share one count and a burst cannot slip through between read and write.
 */
export interface CounterState {
  count: number;
  /** Epoch ms; 0 when the key is not blocked. */
  blockedUntil: number;
}

export interface ConsumeRule {
  /** From this many counted attempts on, every further attempt first waits out a delay. */
  limit: number;
  /** The delay after reaching `limit`; it doubles with each further attempt let through. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A key forgets its attempts this long after the last one (or after its block ends). */
  windowMs: number;
}

export interface ConsumeResult extends CounterState {
  allowed: boolean;
}

/** What every throttle store implements: SQL (sql.ts) and Redis (redis.ts). */
export interface ThrottleStore {
  readonly name: string;
  /**
   * Counts one attempt for `key` unless the key is blocked (then nothing changes and `allowed` is
   * false). When the count reaches `rule.limit` the key is blocked for the current delay.
   */
  consume(key: string, rule: ConsumeRule, now: number): Promise<ConsumeResult>;
  /** The live state of a key, or null. */
  peek(key: string, now: number): Promise<CounterState | null>;
  /** Gives one counted attempt back (a success that should not count against a shared key). */
  refund(key: string): Promise<void>;
  /** Forgets a key entirely. */
  reset(key: string): Promise<void>;
}

/** The delay for a count at or past the limit: base, 2×base, 4×base…, capped. */
export function delayFor(count: number, rule: ConsumeRule): number {
  if (count < rule.limit) return 0;
  return Math.min(rule.maxDelayMs, rule.baseDelayMs * 2 ** Math.min(60, count - rule.limit));
}

/** The one rule every store applies; Redis runs the same steps in Lua. */
export function applyConsume(state: CounterState | null, rule: ConsumeRule, now: number): { result: ConsumeResult; expiresAt: number } {
  const current = state ?? { count: 0, blockedUntil: 0 };
  if (current.count >= rule.limit && now < current.blockedUntil) {
    return { result: { ...current, allowed: false }, expiresAt: current.blockedUntil + rule.windowMs };
  }
  const count = current.count + 1;
  const delay = delayFor(count, rule);
  const blockedUntil = delay ? now + delay : 0;
  return { result: { count, blockedUntil, allowed: true }, expiresAt: Math.max(now, blockedUntil) + rule.windowMs };
}
