import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createPortcullis, type CreateOptions, type Portcullis } from '../src/portcullis.js';
import { buildServer } from '../src/http/server.js';
import { createMysqlDatabase, createPgDatabase, dropRedisKeys, OwnRedisCluster } from './instances.js';

/**
 * With PORTCULLIS_TEST_DATABASE=postgres the same suites run on a throwaway PostgreSQL database of
 * their own, created here and dropped afterwards; otherwise on a SQLite file.
 */
async function testDatabase(dir: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (process.env.PORTCULLIS_TEST_DATABASE === 'mysql') return createMysqlDatabase();
  if (process.env.PORTCULLIS_TEST_DATABASE !== 'postgres') return { url: `sqlite:${join(dir, 'test.sqlite3')}`, drop: async () => {} };
  return createPgDatabase();
}

/**
 * With PORTCULLIS_TEST_SESSION_STORE=redis the sessions live in the Redis at PORTCULLIS_TEST_REDIS_URL
 * under a key prefix of this server's own, removed afterwards. With =redis-cluster each server gets a
 * three-node Redis Cluster of its own on spare ports, stopped afterwards.
 */
async function testSessionStore(): Promise<{ options: CreateOptions; cleanup(): Promise<void> }> {
  if (process.env.PORTCULLIS_TEST_SESSION_STORE === 'redis-cluster') {
    const cluster = new OwnRedisCluster();
    try {
      await cluster.start();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return { options: { sessionStore: cluster.url, redisPrefix: 'portcullis-test:' }, cleanup: () => cluster.stop() };
  }
  if (process.env.PORTCULLIS_TEST_SESSION_STORE !== 'redis') return { options: {}, cleanup: async () => {} };
  const url = process.env.PORTCULLIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `portcullis-test:${process.pid}:${Math.random().toString(36).slice(2, 8)}:`;
  return {
    options: { sessionStore: url, redisPrefix: prefix },
    cleanup: () => dropRedisKeys(url, prefix),
  };
}

export interface TestServer {
  url: string;
  origin: string;
  portcullis: Portcullis;
  app: FastifyInstance;
  dir: string;
  close(): Promise<void>;
}

/** A real server on a real SQLite file in a fresh folder, listening on a free loopback port. */
export async function startServer(options: CreateOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-test-'));
  const database = await testDatabase(dir);
  const store = await testSessionStore();
  const portcullis = await createPortcullis({
    databaseUrl: database.url,
    ...store.options,
    cwd: dir,
    env: {},
    dataDir: dir,
    secretKey: 'test-secret-key-that-is-long-enough-0123456789',
    ...options,
  });
  const app = await buildServer(portcullis, { logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  const origin = `http://127.0.0.1:${address.port}`;
  return {
    url: origin,
    origin,
    portcullis,
    app,
    dir,
    async close() {
      await app.close();
      await portcullis.close();
      await database.drop();
      await store.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Applies Set-Cookie lines to a jar as a browser would: store, replace, or forget (Max-Age=0 / empty). */
export function absorbSetCookies(jar: Map<string, string>, lines: string[]): void {
  for (const line of lines) {
    const [pair = ''] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (/max-age=0/i.test(line) || value === '') jar.delete(name);
    else jar.set(name, value);
  }
}

/** A tiny cookie jar: enough to act as one browser against one server. */
export class Client {
  readonly cookies = new Map<string, string>();
  lastSetCookies: string[] = [];

  constructor(
    readonly base: string,
    readonly defaultHeaders: Record<string, string> = {},
  ) {}

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const h: Record<string, string> = { ...this.defaultHeaders, ...headers };
    if (this.cookies.size) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(this.base + path, { method, headers: h, body: payload });
    this.lastSetCookies = res.headers.getSetCookie();
    absorbSetCookies(this.cookies, this.lastSetCookies);
    return res;
  }

  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, undefined, headers);
  }

  post(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request('POST', path, body, headers);
  }

  delete(path: string, headers?: Record<string, string>) {
    return this.request('DELETE', path, undefined, headers);
  }

  setCookie(name: string): string | undefined {
    return this.lastSetCookies.find((c) => c.startsWith(name + '='));
  }
}

export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

export interface ErrorBody {
  error: { code: string; message: string; fields?: Record<string, string[]> };
}

export const PASSWORD = 'correct horse battery staple';
