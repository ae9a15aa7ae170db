import { sql } from 'kysely';
import type SQLite from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import type { DatabaseHandle } from '../db/connect.js';
import { retryOnDeadlock } from '../db/portable.js';
import { applyConsume, type ConsumeResult, type ConsumeRule, type CounterState, type ThrottleStore } from './base.js';

/**
 * Throttle counters in the database (`portcullis_throttle`), shared by every instance on it. Each
 * consume is one transaction holding the row (FOR UPDATE on PostgreSQL; SQLite serialises writers),
 * so concurrent attempts are counted one by one.
 */
export class SqlThrottleStore implements ThrottleStore {
  readonly name = 'database';
  private sweepAt = 0;
  /** On SQLite: statements prepared once and run synchronously (a login runs a dozen of them). */
  private readonly native: NativeStatements | null;

  constructor(private readonly handle: DatabaseHandle) {
    this.native = handle.sqlite ? nativeStatements(handle.sqlite) : null;
  }

  /**
   * The synchronous statements, unless Kysely has a transaction open on the shared connection (a
   * registration writing its user and login keys): a count written now would join that transaction
   * and vanish if it rolled back, so it waits its turn on Kysely's queue instead.
   */
  private get direct(): NativeStatements | null {
    return this.native && !this.handle.sqlite!.inTransaction ? this.native : null;
  }

  async consume(key: string, rule: ConsumeRule, now: number): Promise<ConsumeResult> {
    const native = this.direct;
    if (native) {
      const result = native.consume(key, rule, now);
      await this.sweep(now);
      return result;
    }
    const { db, dialect } = this.handle;
    const result = await retryOnDeadlock(() => db.transaction().execute(async (trx) => {
      const seed = trx.insertInto('portcullis_throttle').values({ key, count: 0, blocked_until: 0, expires_at: 0 });
      // On MySQL the no-op update takes the row's exclusive lock at once (INSERT IGNORE would take a
      // shared one); two attempts creating the same new key can still cross gap locks, and the
      // deadlock victim is simply run again (retryOnDeadlock).
      await (dialect === 'mysql'
        ? seed.onDuplicateKeyUpdate({ key: sql.ref('key') })
        : seed.onConflict((oc) => oc.column('key').doNothing())
      ).execute();
      let query = trx.selectFrom('portcullis_throttle').selectAll().where('key', '=', key);
      if (dialect !== 'sqlite') query = query.forUpdate();
      const row = await query.executeTakeFirstOrThrow();
      const state = row.expires_at > now ? { count: Number(row.count), blockedUntil: Number(row.blocked_until) } : null;
      const { result, expiresAt } = applyConsume(state, rule, now);
      await trx
        .updateTable('portcullis_throttle')
        .set({ count: result.count, blocked_until: result.blockedUntil, expires_at: expiresAt })
        .where('key', '=', key)
        .execute();
      return result;
    }));
    await this.sweep(now);
    return result;
  }

  async peek(key: string, now: number): Promise<CounterState | null> {
    if (this.native) return this.native.peek(key, now);
    const row = await this.handle.db
      .selectFrom('portcullis_throttle')
      .selectAll()
      .where('key', '=', key)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row ? { count: Number(row.count), blockedUntil: Number(row.blocked_until) } : null;
  }

  async refund(key: string): Promise<void> {
    const native = this.direct;
    if (native) return void native.refund.run(key);
    await this.handle.db
      .updateTable('portcullis_throttle')
      .set((eb) => ({ count: eb('count', '-', 1) }))
      .where('key', '=', key)
      .where('count', '>', 0)
      .execute();
  }

  async reset(key: string): Promise<void> {
    const native = this.direct;
    if (native) return void native.reset.run(key);
    await this.handle.db.deleteFrom('portcullis_throttle').where('key', '=', key).execute();
  }

  /** Expired counters are dropped now and then, so the table stays the size of current abuse. */
  private async sweep(now: number): Promise<void> {
    if (now < this.sweepAt) return;
    this.sweepAt = now + 60_000;
    // Housekeeping: a range delete can collide with concurrent counters (a deadlock on MySQL); it is
    // retried, and if it still loses, the next sweep does the work. A request never fails for it.
    try {
      await retryOnDeadlock(() => this.handle.db.deleteFrom('portcullis_throttle').where('expires_at', '<=', now).execute());
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== 'ER_LOCK_DEADLOCK' && code !== 'ER_LOCK_WAIT_TIMEOUT' && code !== '40P01') throw err;
      this.sweepAt = 0;
    }
  }
}

interface NativeStatements {
  consume(key: string, rule: ConsumeRule, now: number): ConsumeResult;
  peek(key: string, now: number): CounterState | null;
  refund: Statement;
  reset: Statement;
}

interface CounterRow {
  count: number;
  blocked_until: number;
  expires_at: number;
}

/**
 * The same steps as the Kysely path, on better-sqlite3 directly: one IMMEDIATE transaction per
 * consume (it takes the write lock up front, so another process on the same file waits rather than
 * reading a count it is about to overwrite).
 */
function nativeStatements(sqlite: SQLite.Database): NativeStatements {
  const seed = sqlite.prepare('INSERT INTO portcullis_throttle (key, count, blocked_until, expires_at) VALUES (?, 0, 0, 0) ON CONFLICT (key) DO NOTHING');
  const read = sqlite.prepare('SELECT count, blocked_until, expires_at FROM portcullis_throttle WHERE key = ?');
  const write = sqlite.prepare('UPDATE portcullis_throttle SET count = ?, blocked_until = ?, expires_at = ? WHERE key = ?');
  const live = sqlite.prepare('SELECT count, blocked_until FROM portcullis_throttle WHERE key = ? AND expires_at > ?');
  const consume = sqlite.transaction((key: string, rule: ConsumeRule, now: number): ConsumeResult => {
    seed.run(key);
    const row = read.get(key) as CounterRow;
    const state = row.expires_at > now ? { count: Number(row.count), blockedUntil: Number(row.blocked_until) } : null;
    const { result, expiresAt } = applyConsume(state, rule, now);
    write.run(result.count, result.blockedUntil, expiresAt, key);
    return result;
  });
  return {
    consume: (key, rule, now) => consume.immediate(key, rule, now),
    peek(key, now) {
      const row = live.get(key, now) as Omit<CounterRow, 'expires_at'> | undefined;
      return row ? { count: Number(row.count), blockedUntil: Number(row.blocked_until) } : null;
    },
    refund: sqlite.prepare('UPDATE portcullis_throttle SET count = count - 1 WHERE key = ? AND count > 0'),
    reset: sqlite.prepare('DELETE FROM portcullis_throttle WHERE key = ?'),
  };
}
