import { createHash, timingSafeEqual } from 'node:crypto';
import type { PortcullisConfig } from '../config.js';
import type { Metrics } from './metrics.js';

export type { LoginOutcomeLabel, Metrics, MetricsOptions } from './metrics.js';

/**
 * Metrics are off unless an operator asks for them: a port of their own (PORTCULLIS_METRICS_PORT)
 * or a token for /metrics on the public port (PORTCULLIS_METRICS_TOKEN).
 */
export function metricsEnabled(config: PortcullisConfig): boolean {
  return config.metricsPort !== undefined || config.metricsToken !== undefined;
}

/** The metrics, when they are on; prom-client is loaded only then, so metrics off cost nothing at all. */
export async function createMetrics(config: PortcullisConfig): Promise<Metrics | null> {
  if (!metricsEnabled(config)) return null;
  const { Metrics } = await import('./metrics.js');
  return new Metrics({ processMetrics: config.metricsProcess });
}

/** `Authorization: Bearer <token>` against the configured token, in time that says nothing about either. */
export function metricsTokenMatches(authorization: string | undefined, token: string): boolean {
  if (authorization === undefined || !authorization.startsWith('Bearer ')) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(authorization.slice('Bearer '.length).trim()), digest(token));
}
