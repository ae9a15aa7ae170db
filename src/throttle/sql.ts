import { sql } from 'kysely';
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

  constructor(private readonly handle: DatabaseHandle) {}

  async consume(key: string, rule: ConsumeRule, now: number): Promise<ConsumeResult> {
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
    const row = await this.handle.db
      .selectFrom('portcullis_throttle')
      .selectAll()
      .where('key', '=', key)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row ? { count: Number(row.count), blockedUntil: Number(row.blocked_until) } : null;
  }

  async refund(key: string): Promise<void> {
    await this.handle.db
      .updateTable('portcullis_throttle')
      .set((eb) => ({ count: eb('count', '-', 1) }))
      .where('key', '=', key)
      .where('count', '>', 0)
      .execute();
  }

  async reset(key: string): Promise<void> {
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
