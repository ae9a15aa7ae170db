import { createHmac } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { ApiError } from '../errors.js';
import { loginKey } from '../users/normalize.js';
import type { ConsumeRule, ThrottleStore } from './base.js';

/** Limits on guessing (config `throttle`); every field optional there, these are the defaults. */
export interface ThrottleLimits {
  /** Attempts one client (IP) may make on one account before each further one waits (doubling delays). */
  perClient: number;
  /** Attempts one client may make across all accounts before the same. */
  perIp: number;
  /** Attempts on one account from everywhere before only clients with no recent failure on it may try. */
  perAccount: number;
  /** Consecutive failures after which the account is refused to everyone (NIST SP 800-63B: at most 100). */
  hardCeiling: number;
  /** How long the hard ceiling holds once reached (a successful password reset lifts it at once). */
  ceilingLockSeconds: number;
  baseDelaySeconds: number;
  maxDelaySeconds: number;
  /** A counter forgets its attempts this long after the last one. */
  windowSeconds: number;
  /** Password-reset requests per client (IP) and per email address before they are refused or dropped. */
  resetPerIp: number;
  resetPerEmail: number;
  /** Registrations one client may make per window (generous: an office shares one address). */
  registerPerIp: number;
}

export const DEFAULT_THROTTLE_LIMITS: ThrottleLimits = {
  perClient: 5,
  perIp: 50,
  perAccount: 20,
  hardCeiling: 100,
  ceilingLockSeconds: 86_400,
  baseDelaySeconds: 1,
  maxDelaySeconds: 900,
  windowSeconds: 900,
  resetPerIp: 20,
  resetPerEmail: 3,
  registerPerIp: 100,
};

/**
 * What a guess is counted against. Each kind is a namespace of its own, so nothing typed at the login
 * can name an internal counter:
 * - `account`: a known account, whatever identifier (username, email, phone, any spelling) reached it;
 * - `login`: an identifier that names no account, in the lookup's own normal form;
 * - `reauth`: the password a signed-in user re-enters (password change, re-authentication), which an
 *   attacker at the login cannot fill up;
 * - `unnamed`: credentials with no identifier at all, counted per client.
 */
export type ThrottleSubject = { account: number } | { login: string } | { reauth: number } | { unnamed: string };

function subjectName(subject: ThrottleSubject): string {
  if ('account' in subject) return `account:${subject.account}`;
  if ('reauth' in subject) return `reauth:${subject.reauth}`;
  // Credentials that name nobody (a custom backend's): counted per client, never one shared subject.
  if ('unnamed' in subject) return `unnamed:${clientOf(subject.unnamed)}`;
  return `login:${loginKey(subject.login)}`;
}

/**
 * The client a request is counted as: an IPv4 address, or the /64 network of an IPv6 one (one
 * subscriber's whole allocation, which it can walk through at will). IPv4-mapped addresses count as IPv4.
 */
export function clientOf(ip: string): string {
  if (!isIPv6(ip)) return ip;
  let s = ip.split('%')[0]!;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    if (/^(0{0,4}:){0,5}:?ffff:$/i.test(s.slice(0, v4.index)) || /^::ffff:$/i.test(s.slice(0, v4.index))) return `${a}.${b}.${c}.${d}`;
    s = s.slice(0, v4.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const halves = s.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const hextets = [...head, ...Array<string>(halves.length > 1 ? 8 - head.length - tail.length : 0).fill('0'), ...tail];
  return `${hextets.slice(0, 4).map((h) => parseInt(h, 16).toString(16)).join(':')}::/64`;
}

/** An attempt let through: report its outcome with succeeded() or failed(). */
export interface Attempt {
  /** The client (see clientOf) and the subject's name. */
  client: string;
  account: string;
}

const NO_LIMIT = 2 ** 31;

/**
 * Guessing protection for every door that takes a secret (login, token, password reset, re-auth).
 *
 * - per client IP: many failures from one address slow that address down, whatever account it tries;
 * - per account and client: a client failing on one account is slowed down on it, doubling each time;
 * - per account: when an account is under attack from many addresses, only clients that have not
 *   been failing on it may still try, so an attacker cannot lock the owner out everywhere;
 * - hard ceiling: after `hardCeiling` consecutive failures the account is refused to everyone until
 *   a password reset or `ceilingLockSeconds` pass.
 *
 * A known account is counted as itself, so every identifier and spelling that reaches it shares its
 * counters; an identifier that names no account is counted in the login's own normal form, so its
 * spellings share one too. A throttled answer is the same either way. Keys are HMACs: the store never
 * holds an email address or a username. Clients are IPv4 addresses or IPv6 /64 networks.
 */
export class Throttle {
  readonly limits: ThrottleLimits;
  /**
   * Told the kind of every refusal (the metrics' throttled count): `login`, `reauth`, or a rate's
   * own kind (`register`, `reset-ip`, …). Null (the default) counts nothing.
   */
  observer: ((kind: string) => void) | null = null;

  constructor(
    readonly store: ThrottleStore,
    private readonly secret: string,
    limits: Partial<ThrottleLimits> = {},
  ) {
    this.limits = { ...DEFAULT_THROTTLE_LIMITS, ...limits };
  }

  private rule(limit: number): ConsumeRule {
    const l = this.limits;
    return { limit, baseDelayMs: l.baseDelaySeconds * 1000, maxDelayMs: l.maxDelaySeconds * 1000, windowMs: l.windowSeconds * 1000 };
  }

  private get ceilingRule(): ConsumeRule {
    const lock = this.limits.ceilingLockSeconds * 1000;
    return { limit: this.limits.hardCeiling, baseDelayMs: lock, maxDelayMs: lock, windowMs: lock };
  }

  private key(kind: string, ...parts: string[]): string {
    return `${kind}:${createHmac('sha256', this.secret).update(parts.join('\u0000')).digest('base64url').slice(0, 32)}`;
  }

  /**
   * Lets one guess through or throws 429 `throttled` with Retry-After. The attempt is counted before
   * the secret is checked, so a burst of concurrent guesses cannot outrun the count.
   */
  async attempt(ip: string, subject: ThrottleSubject, now = Date.now()): Promise<Attempt> {
    const account = subjectName(subject);
    const client = clientOf(ip);
    const kind = 'reauth' in subject ? 'reauth' : 'login';
    const ceiling = await this.store.peek(this.key('ceiling', account), now);
    if (ceiling && ceiling.count >= this.limits.hardCeiling && now < ceiling.blockedUntil) throw this.refuse(kind, ceiling.blockedUntil - now);
    const byIp = await this.store.consume(this.key('ip', client), this.rule(this.limits.perIp), now);
    if (!byIp.allowed) throw this.refuse(kind, byIp.blockedUntil - now);
    const byClient = await this.store.consume(this.key('client', account, client), this.rule(this.limits.perClient), now);
    if (!byClient.allowed) throw this.refuse(kind, byClient.blockedUntil - now);
    const byAccount = await this.store.consume(this.key('account', account), this.rule(NO_LIMIT), now);
    // Under attack, only a client with no failure of its own on this account gets to try.
    if (byAccount.count > this.limits.perAccount && byClient.count > 1) {
      await this.store.refund(this.key('account', account));
      throw this.refuse(kind, Math.min(this.limits.maxDelaySeconds * 1000, this.limits.baseDelaySeconds * 1000 * 2 ** Math.min(30, byClient.count - 1)));
    }
    // The hard ceiling is counted here too, before the check, so that a burst from many clients at
    // once cannot put more than `hardCeiling` guesses in flight; a success wipes it.
    const byCeiling = await this.store.consume(this.key('ceiling', account), this.ceilingRule, now);
    if (!byCeiling.allowed) {
      await this.store.refund(this.key('account', account));
      throw this.refuse(kind, byCeiling.blockedUntil - now);
    }
    return { client, account };
  }

  /** The right secret: this client's slate on the account is wiped, the shared counts get their attempt back. */
  async succeeded(attempt: Attempt): Promise<void> {
    await this.store.reset(this.key('client', attempt.account, attempt.client));
    await this.store.reset(this.key('ceiling', attempt.account));
    await this.store.refund(this.key('ip', attempt.client));
    await this.store.refund(this.key('account', attempt.account));
  }

  /** A wrong secret: every counter, the hard ceiling included, already holds it (attempt counted it). */
  async failed(_attempt: Attempt, _now = Date.now()): Promise<void> {}

  /**
   * After a password reset the owner is back in control: the account's shared counters and hard
   * ceiling go, for the login and for re-authentication, and so do the resetting client's own.
   */
  async clearAccount(userId: number, ip?: string): Promise<void> {
    for (const subject of [{ account: userId }, { reauth: userId }]) {
      const account = subjectName(subject);
      await this.store.reset(this.key('ceiling', account));
      await this.store.reset(this.key('account', account));
      if (ip !== undefined) await this.store.reset(this.key('client', account, clientOf(ip)));
    }
  }

  /**
   * A rate for requests that are not guesses (password-reset mails): throws 429 past `limit` when
   * `refuse`, otherwise returns false so the caller can quietly drop the request.
   */
  async rate(kind: string, subject: string, limit: number, refuse: boolean, now = Date.now()): Promise<boolean> {
    const result = await this.store.consume(this.key(kind, subject), this.rule(limit), now);
    if (result.allowed) return true;
    if (refuse) throw this.refuse(kind, result.blockedUntil - now);
    // Dropped quietly, but limited all the same.
    this.observer?.(kind);
    return false;
  }

  private refuse(kind: string, retryAfterMs: number): ApiError {
    this.observer?.(kind);
    return throttled(retryAfterMs);
  }

  /** `rate` per client (an IPv4 address or IPv6 /64), refusing with 429 past the limit. */
  async clientRate(kind: string, ip: string, limit: number, now = Date.now()): Promise<void> {
    await this.rate(kind, clientOf(ip), limit, true, now);
  }

  /** Gives back a `clientRate` request that turned out well (a valid reset token). */
  async refundClientRate(kind: string, ip: string): Promise<void> {
    await this.store.refund(this.key(kind, clientOf(ip)));
  }
}

export function throttled(retryAfterMs: number): ApiError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ApiError('throttled', undefined, undefined, { 'Retry-After': String(seconds) });
}

/** Runs one guess under the throttle: attempt, check, report. `check` returns a truthy value when the secret was right. */
export async function guarded<T>(throttle: Throttle, ip: string, subject: ThrottleSubject, check: () => Promise<T | null>): Promise<T | null> {
  const attempt = await throttle.attempt(ip, subject);
  const result = await check();
  if (result) await throttle.succeeded(attempt);
  else await throttle.failed(attempt);
  return result;
}
