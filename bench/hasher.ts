/**
 * The login baseline: how many correct-password checks per second the configured default hasher
 * manages on this machine with `concurrency` loops, through the same `portcullis.hashers` registry
 * (and so the same concurrency limiter) the login route uses. No HTTP, no database.
 * Usage: hasher.ts '{"concurrency":4,"duration":5,"warmup":1}'; prints one JSON line: a Sample.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_USER, benchPortcullis, percentile, type Sample } from './common.js';

const { concurrency, duration, warmup } = JSON.parse(process.argv[2] ?? '{}') as { concurrency: number; duration: number; warmup: number };

const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-hasher-'));
try {
  const portcullis = await benchPortcullis(dir);
  const { hashers } = portcullis;
  const encoded = await hashers.makePassword(BENCH_USER.password);

  let ok = 0;
  let wrong = 0;
  const latencies: number[] = [];
  let measuring = false;
  const loop = async (until: number) => {
    while (performance.now() < until) {
      const t = performance.now();
      const correct = await hashers.checkPassword(BENCH_USER.password, encoded);
      if (!measuring) continue;
      latencies.push(performance.now() - t);
      if (correct) ok++;
      else wrong++;
    }
  };
  const run = (seconds: number) => {
    const until = performance.now() + seconds * 1000;
    return Promise.all(Array.from({ length: concurrency }, () => loop(until)));
  };

  await run(warmup);
  measuring = true;
  const started = performance.now();
  await run(duration);
  // Loops finish their last check after the deadline, so divide by the time actually spent.
  const elapsed = (performance.now() - started) / 1000;
  await portcullis.close();

  const sample: Sample = {
    rps: ok / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    non2xx: wrong,
    errors: 0,
    total: ok + wrong,
  };
  process.stdout.write(JSON.stringify(sample) + '\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
