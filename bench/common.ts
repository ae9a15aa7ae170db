import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Portcullis } from '../src/portcullis.js';

/** Shared by server.ts (the seeded user) and hasher.ts (the baseline hashes the same password). */
export const BENCH_USER = { username: 'bench', password: 'bench password 123' };

/** Fixed so no secret_key file is written and every child derives the same session auth hashes. */
const SECRET_KEY = 'bench-secret-key-that-is-long-enough-0123456789abcdef';

/** One round of one side of a figure, as printed (one JSON line) by load.ts and hasher.ts. */
export interface Sample {
  /** Successful operations per second. */
  rps: number;
  /** Latency in milliseconds. */
  p50: number;
  p99: number;
  /** Responses that were not 2xx (HTTP) or verifications that said "wrong password" (hasher). */
  non2xx: number;
  /** Connection errors and timeouts; like non2xx, any of these fails the figure. */
  errors: number;
  total: number;
  /** A figure that runs a second load alongside (logins during the /me storm): that load's rate. */
  alongsideRps?: number;
}

/**
 * A portcullis on a throwaway SQLite file in `dataDir`. The environment is passed through so that a
 * figure can pick another database or session store (run.ts strips inherited PORTCULLIS_* first, so
 * a developer's own settings never point the bench at a real database).
 */
export async function benchPortcullis(dataDir: string): Promise<Portcullis> {
  // Imported on demand: run.ts and the bare server use this module without loading portcullis at all.
  const { createPortcullis } = await import('../src/portcullis.js');
  return createPortcullis({
    cwd: dataDir,
    env: process.env,
    dataDir,
    secretKey: SECRET_KEY,
    // The counters still run on every login (their cost is part of the figure); the limits are only
    // raised so that many parallel correct logins from 127.0.0.1 are never answered 429.
    throttle: { perClient: 1e9, perIp: 1e9, perAccount: 1e9, hardCeiling: 1e9 },
  });
}

/**
 * Seeded users and sessions (scripts/bench-seed.ts): user i (1-based) is `seed<i>` with the bench
 * password, and session i belongs to user ((i - 1) mod users) + 1. Session keys are derived from a
 * per-run salt, so the bench can send the cookie of any seeded session without keeping a million keys.
 * PostgreSQL computes the same key in SQL (see the seed script); the two must stay in step.
 */
export const seedUsername = (i: number) => `seed${i}`;
export function seedSessionKey(salt: string, i: number): string {
  return createHash('sha256').update(`${salt}:${i}`).digest('base64url');
}

/** What scripts/bench-seed.ts is asked to do (one JSON argument). */
export interface SeedSpec {
  dataDir: string;
  users: number;
  sessions: number;
  salt: string;
}

/** Nearest-rank percentile of already-collected values (hasher.ts has no histogram library). */
export function percentile(values: number[], p: number): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export function median(values: number[]): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export type LoadGenerator = 'wrk' | 'autocannon';

/** wrk when it is on the PATH (or BENCH_LOADGEN says which); run.ts reports the choice with the figures. */
export function loadGenerator(): LoadGenerator {
  const asked = process.env.BENCH_LOADGEN;
  if (asked === 'wrk' || asked === 'autocannon') return asked;
  if (asked) throw new Error(`BENCH_LOADGEN: wrk or autocannon, not "${asked}"`);
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error ? 'autocannon' : 'wrk';
}
