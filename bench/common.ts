import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Portcullis } from '../src/portcullis.js';

/** The account the bench creates (createsuperuser) and logs in as; hasher.ts hashes the same password. */
export const BENCH_USER = { username: 'bench', password: 'bench password 123' };

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
  /** CPU time (user + system) the server process spent per completed request, in microseconds. */
  cpuUs?: number;
}

/**
 * A portcullis on the throwaway folder `dataDir` (SQLite there unless the environment names another
 * database), for what runs beside the server under test: the seed script and the hasher baseline.
 * Its secret key is generated into dataDir/secret_key as on a first run, so a `portcullis serve`
 * started later on the same folder (cwd/data) derives the same session auth hashes.
 */
export async function benchPortcullis(dataDir: string): Promise<Portcullis> {
  // Imported on demand: run.ts uses this module without loading portcullis at all.
  const { createPortcullis } = await import('../src/portcullis.js');
  return createPortcullis({ cwd: dataDir, env: process.env, dataDir });
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
