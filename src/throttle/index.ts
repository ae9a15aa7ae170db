export { Throttle, DEFAULT_THROTTLE_LIMITS, guarded, throttled, type ThrottleLimits, type Attempt } from './throttle.js';
export type { ThrottleStore, ConsumeRule, ConsumeResult, CounterState } from './base.js';
export { SqlThrottleStore } from './sql.js';
export { RedisThrottleStore } from './redis.js';
