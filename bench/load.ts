/**
 * The load generator, in its own process so its CPU use is not charged to the server's event loop.
 * Usage: load.ts '<JSON LoadSpec>'; prints one JSON line: a Sample.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import type { Sample } from './common.js';

export interface LoadSpec {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  /** Seconds. */
  duration: number;
  /**
   * A file with one value per line; request n sends line n (round robin) as its `Cookie` header or as
   * its body. Many distinct sessions or accounts, without squeezing them into a command line.
   */
  variants?: { file: string; as: 'cookie' | 'body' };
  /** Stop after this many requests instead of after `duration` (e.g. each session exactly once). */
  amount?: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;

let requests: autocannon.Request[] | undefined;
if (spec.variants) {
  const lines = readFileSync(spec.variants.file, 'utf8').split('\n').filter(Boolean);
  if (!lines.length) throw new Error(`${spec.variants.file} is empty`);
  const as = spec.variants.as;
  let next = 0;
  requests = [
    {
      setupRequest(req) {
        const line = lines[next++ % lines.length]!;
        return as === 'cookie' ? { ...req, headers: { ...req.headers, cookie: line } } : { ...req, body: line };
      },
    },
  ];
}

const result = await autocannon({
  url: spec.url,
  method: spec.method ?? 'GET',
  headers: spec.headers,
  body: spec.body,
  connections: spec.connections,
  duration: spec.duration,
  amount: spec.amount,
  requests,
  pipelining: 1,
});

const sample: Sample = {
  // autocannon's mean of per-second counts; it includes non-2xx answers, which fail the figure anyway.
  // A run cut short by `amount` ends mid-second, so there the total over the elapsed time is fairer.
  rps: spec.amount ? result.requests.total / Math.max(result.duration, 0.001) : result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors,
  total: result.requests.total,
};
process.stdout.write(JSON.stringify(sample) + '\n');
