import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HashOperation, PasswordHashers } from '../passwords/registry.js';
import type { SessionKind, Sessions } from '../sessions/manager.js';
import type { Throttle } from '../throttle/throttle.js';

/**
 * What an operator watches, in Prometheus's terms, on a registry of portcullis's own (never
 * prom-client's global one, so an application that embeds portcullis and has metrics of its own
 * meets no clash). Every label value is one of a fixed few or a route pattern: nothing typed by a
 * client (a username, an address, a raw URL) ever becomes a label, so the series stay few.
 *
 * It exists only when metrics are on (src/metrics/index.ts); otherwise no hook is set and nothing
 * here is ever loaded.
 */

/** How a login through the flows (src/flows/login.ts) ended. */
export type LoginOutcomeLabel = 'success' | 'invalid_credentials' | 'throttled' | 'step_required';

export interface MetricsOptions {
  /** prom-client's default process and Node.js metrics (CPU, memory, event-loop lag, GC) too. */
  processMetrics?: boolean;
}

const PREFIX = 'portcullis_';
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

export class Metrics {
  readonly registry = new Registry();
  private readonly logins = new Counter({
    name: `${PREFIX}logins_total`,
    help: 'Logins through the API, the token endpoint, the pages and the adapters, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly throttledAttempts = new Counter({
    name: `${PREFIX}throttled_total`,
    help: 'Attempts refused (or, for password-reset mails, dropped) by the guessing limits, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly sessionsStarted = new Counter({
    name: `${PREFIX}sessions_started_total`,
    help: 'Sessions started (a login, a new key for a session, an anonymous visitor session).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly sessionsEnded = new Counter({
    name: `${PREFIX}sessions_ended_total`,
    help: 'Sessions ended by logout, revocation, a password change, an idle timeout or a new key (not by expiry).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly hashSeconds = new Histogram({
    name: `${PREFIX}password_hash_seconds`,
    help: 'Time of one password hash computation, once it has its turn (not the wait for one).',
    labelNames: ['operation', 'algorithm'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly requestSeconds = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'Time to answer an HTTP request, by method, route pattern and status class.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly cacheLookups = new Counter({
    name: `${PREFIX}auth_cache_lookups_total`,
    help: 'Safe requests whose session key or access token the auth cache answered (hit) or sent to the store (miss).',
    labelNames: ['cache', 'result'] as const,
    registers: [this.registry],
  });

  constructor(options: MetricsOptions = {}) {
    // Every series that can exist starts at 0, so a rate() over the first hour is right.
    for (const outcome of ['success', 'invalid_credentials', 'throttled', 'step_required']) this.logins.inc({ outcome }, 0);
    for (const kind of ['user', 'anonymous']) {
      this.sessionsStarted.inc({ kind }, 0);
      this.sessionsEnded.inc({ kind }, 0);
    }
    for (const cache of ['session', 'token']) for (const result of ['hit', 'miss']) this.cacheLookups.inc({ cache, result }, 0);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Hooks the core's observers up to these metrics (Portcullis's constructor calls it). */
  watch(parts: { hashers: PasswordHashers; sessions: Sessions; throttle: Throttle }): void {
    parts.hashers.timer = (operation, algorithm, seconds) => this.hashTime(operation, algorithm, seconds);
    parts.sessions.observer = {
      started: (kind) => this.sessionStarted(kind),
      ended: (kind, count) => this.sessionEnded(kind, count),
    };
    parts.throttle.observer = (kind) => this.throttled(kind);
  }

  /**
   * The change channel's state at every scrape: 1 while other instances' changes reach this one, 0
   * while they cannot. Registered only when there is a channel, so its absence says there is none.
   */
  watchChangeChannel(listening: () => boolean): void {
    new Gauge({
      name: `${PREFIX}change_channel_up`,
      help: "1 while other instances' changes reach this one's auth cache (Redis or PostgreSQL), 0 while they cannot.",
      registers: [this.registry],
      collect() {
        this.set(listening() ? 1 : 0);
      },
    });
  }

  login(outcome: LoginOutcomeLabel): void {
    this.logins.inc({ outcome });
  }

  throttled(kind: string): void {
    this.throttledAttempts.inc({ kind });
  }

  sessionStarted(kind: SessionKind): void {
    this.sessionsStarted.inc({ kind });
  }

  sessionEnded(kind: SessionKind, count: number): void {
    this.sessionsEnded.inc({ kind }, count);
  }

  hashTime(operation: HashOperation, algorithm: string, seconds: number): void {
    this.hashSeconds.observe({ operation, algorithm }, seconds);
  }

  /** `route` is the matched route's pattern (`/api/auth/sessions/:id`), never the URL; undefined when none matched. */
  request(method: string, route: string | undefined, statusCode: number, seconds: number): void {
    this.requestSeconds.observe(
      {
        method: METHODS.has(method) ? method : 'other',
        route: route ?? 'unmatched',
        status: STATUS_CLASSES[Math.floor(statusCode / 100) - 1] ?? 'other',
      },
      seconds,
    );
  }

  cacheLookup(cache: 'session' | 'token', hit: boolean): void {
    this.cacheLookups.inc({ cache, result: hit ? 'hit' : 'miss' });
  }

  /** The Prometheus text exposition of everything above. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
