import { Redis } from 'ioredis';
import { StoreUnavailableError } from './errors.js';

export interface RedisHandle {
  client: Redis;
  prefix: string;
  close(): Promise<void>;
}

/**
 * One ioredis connection shared by sessions, throttling and token state. Commands fail at once while
 * the server is away (no offline queue), so requests answer 503 instead of hanging; ioredis keeps
 * reconnecting in the background and service resumes by itself when Redis returns.
 */
export async function connectRedis(url: string, prefix: string): Promise<RedisHandle> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    retryStrategy: (times) => Math.min(100 * times, 1000),
  });
  // Connection errors surface on commands; the event itself must not crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw new StoreUnavailableError(`cannot reach Redis at ${new URL(url).host}: ${(err as Error).message}`, { cause: err });
  }
  return {
    client,
    prefix,
    async close() {
      client.disconnect();
    },
  };
}

/** Runs a Redis call, turning "Redis is not there" into StoreUnavailableError (a 503, never a 500). */
export async function redisCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const message = (err as Error).message ?? '';
    if (/ReplyError|WRONGTYPE|ERR /.test((err as Error).name + message) && !/LOADING|MASTERDOWN|CLUSTERDOWN/.test(message)) throw err;
    throw new StoreUnavailableError(`Redis unavailable: ${message}`, { cause: err });
  }
}
