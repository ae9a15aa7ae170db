import { redisCall, type RedisClient } from '../redis.js';
import type { ConsumeResult, ConsumeRule, CounterState, ThrottleStore } from './base.js';

// applyConsume (base.ts) in Lua. KEYS[1] counter; ARGV now, limit, baseDelayMs, maxDelayMs, windowMs.
const CONSUME = `
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local c = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
local b = tonumber(redis.call('HGET', KEYS[1], 'b') or '0')
if c >= limit and now < b then return {0, c, tostring(b)} end
c = c + 1
b = 0
if c >= limit then b = now + math.min(max, base * 2 ^ math.min(60, c - limit)) end
redis.call('HSET', KEYS[1], 'c', c, 'b', tostring(b))
redis.call('PEXPIRE', KEYS[1], math.max(now, b) - now + window)
return {1, c, tostring(b)}`;

const REFUND = `
local c = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
if c > 0 then redis.call('HSET', KEYS[1], 'c', c - 1) end
return 1`;

/**
 * Throttle counters in Redis: one hash per key whose TTL is its window, updated by a script so the
 * count is atomic across instances. Takes the shared ioredis client and the deployment's key prefix.
 */
export class RedisThrottleStore implements ThrottleStore {
  readonly name = 'redis';

  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
  ) {}

  private key(key: string): string {
    return `${this.prefix}throttle:${key}`;
  }

  async consume(key: string, rule: ConsumeRule, now: number): Promise<ConsumeResult> {
    const [allowed, count, blockedUntil] = (await redisCall(() =>
      this.client.eval(CONSUME, 1, this.key(key), now, rule.limit, rule.baseDelayMs, rule.maxDelayMs, rule.windowMs),
    )) as [number, number, string];
    return { allowed: allowed === 1, count: Number(count), blockedUntil: Number(blockedUntil) };
  }

  async peek(key: string): Promise<CounterState | null> {
    const fields = await redisCall(() => this.client.hgetall(this.key(key)));
    if (!fields.c) return null;
    return { count: Number(fields.c), blockedUntil: Number(fields.b ?? 0) };
  }

  async refund(key: string): Promise<void> {
    await redisCall(() => this.client.eval(REFUND, 1, this.key(key)));
  }

  async reset(key: string): Promise<void> {
    await redisCall(() => this.client.del(this.key(key)));
  }
}
