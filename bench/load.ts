/**
 * The load generator, in its own process so its CPU use is not charged to the server's event loop.
 * Usage: load.ts '<JSON LoadSpec>'; prints one JSON line: a Sample.
 */
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
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const result = await autocannon({
  url: spec.url,
  method: spec.method ?? 'GET',
  headers: spec.headers,
  body: spec.body,
  connections: spec.connections,
  duration: spec.duration,
  pipelining: 1,
});

const sample: Sample = {
  // autocannon's mean of per-second counts; it includes non-2xx answers, which fail the figure anyway.
  rps: result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors,
  total: result.requests.total,
};
process.stdout.write(JSON.stringify(sample) + '\n');
