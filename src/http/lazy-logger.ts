import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type Level = (typeof LEVELS)[number];

/**
 * Fastify's per-request logger, made only when the request logs something. Fastify builds a pino
 * child for every request (its bindings serialised up front); by default portcullis logs only
 * security events and errors, so most requests never use it, and building it anyway was about 3 µs
 * of an authenticated read that costs ~40 (A/B runs of GET /api/auth/me under wrk with Fastify's
 * logger on and off). A line that is logged is the same line, `reqId` and all: it goes through the
 * same child, made on first use.
 */
class LazyRequestLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get real(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real.level = level;
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options);
  }
}

// The level methods sit on the prototype (nothing allocated per request) and call the real child as
// a method, so pino sees itself as `this`.
interface LazyRequestLogger extends Pick<FastifyBaseLogger, Level> {}
for (const level of LEVELS) {
  Object.defineProperty(LazyRequestLogger.prototype, level, {
    value: function (this: LazyRequestLogger, ...args: unknown[]) {
      (this.real as unknown as Record<Level, (...a: unknown[]) => void>)[level](...args);
    },
  });
}

/** Fastify's `childLoggerFactory`: a LazyRequestLogger instead of a pino child built up front. */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyRequestLogger(logger, bindings, options);
}
