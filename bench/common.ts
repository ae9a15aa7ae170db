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
}

/**
 * A portcullis on a throwaway SQLite file in `dataDir`. The environment is passed through so that a
 * figure can pick another database or session store (run.ts strips inherited PORTCULLIS_* first, so
 * a developer's own settings never point the bench at a real database).
 */
export async function benchPortcullis(dataDir: string): Promise<Portcullis> {
  // Imported on demand: run.ts and the bare server use this module without loading portcullis at all.
  const { createPortcullis } = await import('../src/portcullis.js');
  return createPortcullis({ cwd: dataDir, env: process.env, dataDir, secretKey: SECRET_KEY });
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
