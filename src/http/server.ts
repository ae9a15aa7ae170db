import Fastify, { LogController, type FastifyInstance, type FastifyContextConfig, type FastifyServerOptions, type onSendHookHandler } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Portcullis } from '../portcullis.js';
import { registerJsonBody } from './body.js';
import { registerErrorHandling } from './errors.js';
import { registerCors } from './cors.js';
import { csrfFailure } from './csrf.js';
import { originWarningStep, WARNING_HEADER } from './origin-warning.js';
import { accountRoutes } from './routes/account.js';
import { adminRoutes } from './routes/admin.js';
import { pageRoutes } from '../pages/plugin.js';
import { healthRoutes } from './routes/health.js';
import { tokenRoutes } from './routes/tokens.js';
import { passwordRoutes } from './routes/password.js';
import { apiSecurityHeaders, applySecurityHeaders } from './security-headers.js';
import { decorateAuth } from './request-auth.js';
import { logSecurityEvents, registerAccessLog } from './request-log.js';
import { registerMetrics } from './metrics.js';
import { registerCookies } from './request-cookies.js';
import { lazyChildLogger } from './lazy-logger.js';
import { ErrorSchema, UserSchema } from './schemas.js';

export interface ServerOptions {
  /** Pino logger options, or false for none (tests). */
  logger?: FastifyServerOptions['logger'];
  /** Trust X-Forwarded-* from these proxies (Fastify's trustProxy). */
  trustProxy?: FastifyServerOptions['trustProxy'];
}

/** Secret-bearing parts of a request or response that must never reach a log line. */
export const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.old_password',
  '*.new_password',
  '*.refresh_token',
  '*.access_token',
];

/** A route whose answers get the API's security headers up front (registerRequestRules). */
function takesApiHeaders(route: { url?: string; config?: FastifyContextConfig }): boolean {
  return route.url?.startsWith('/api/') === true || route.config?.securityHeaders === 'api';
}

/**
 * Security headers for the routes outside /api/ (pages, docs, health, keys): theirs depend
 * on what the route answered (HTML or not, a cookie set or not), so they are set from onSend, a
 * hook given to those routes alone. It must be added before the first route is: an onRoute hook
 * sees only the routes registered after it.
 */
function registerPageHeaders(app: FastifyInstance, hsts: { hsts: boolean }): void {
  const pageHeaders: onSendHookHandler = (request, reply, payload, done) => {
    applySecurityHeaders(request, reply, hsts);
    done(null, payload);
  };
  app.addHook('onRoute', (route) => {
    if (takesApiHeaders(route)) return;
    // First of the route's own onSend hooks, as when it was a server-wide hook: a route may still
    // override one of these (the reset link's page sets Referrer-Policy: no-referrer).
    route.onSend = route.onSend === undefined ? [pageHeaders] : [pageHeaders, ...(Array.isArray(route.onSend) ? route.onSend : [route.onSend])];
  });
}

/**
 * What every request meets before its route runs, in one onRequest hook, in this order: the API's
 * security headers, CORS (a trusted origin's preflight is answered here), the cookie doctor's
 * warning on a login, then the origin/CSRF rule (contract section 6), so a refused request is
 * answered before its body is read. One callback hook, not one per rule: each hook stage Fastify
 * runs costs every request, and an async hook a promise and a trip through the microtask queue as
 * well. An API request runs no onSend hook at all (registerPageHeaders).
 */
function registerRequestRules(app: FastifyInstance, portcullis: Portcullis, hsts: { hsts: boolean }): void {
  const { config } = portcullis;
  const cors = registerCors(app, { trustedOrigins: config.trustedOrigins, exposedHeaders: [WARNING_HEADER] });
  const originWarning = originWarningStep(config);
  const csrf = { trustedOrigins: config.trustedOrigins, sessionCookieName: config.sessionCookieName };
  const apiHeaders = apiSecurityHeaders(hsts);
  app.addHook('onRequest', (request, reply, done) => {
    // Decided by the route the router matched, which the raw URL need not spell (/%61pi/ is /api/):
    // the URL is the cheap test for nearly every API request, the route itself settles the rest.
    // A 404 is a JSON error wherever it was asked for, and an OPTIONS request is answered by a
    // preflight's 204 or that 404.
    if (request.url.startsWith('/api/') || request.is404 || request.method === 'OPTIONS' || takesApiHeaders(request.routeOptions)) {
      reply.headers(apiHeaders);
    }
    if (cors(request, reply)) return;
    originWarning(request, reply);
    done(csrfFailure(request, csrf));
  });
}

export async function buildServer(portcullis: Portcullis, options: ServerOptions = {}): Promise<FastifyInstance> {
  const { config } = portcullis;
  const app = Fastify({
    logger: options.logger === undefined ? { level: config.logLevel, redact: REDACT } : options.logger,
    // Fastify's two lines per request (incoming, completed) cost as much as an authenticated read;
    // the access log, when asked for, is one line at completion (request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    // Most requests log nothing: their logger is made on first use (lazy-logger.ts).
    childLoggerFactory: lazyChildLogger,
    bodyLimit: 64 * 1024,
    // X-Forwarded-For is believed only from the configured proxies (PORTCULLIS_TRUSTED_PROXIES).
    trustProxy: options.trustProxy ?? (config.trustedProxies.length ? config.trustedProxies : false),
    // Types are checked, never coerced: "1" is not a boolean and 5 is not a username.
    ajv: { customOptions: { coerceTypes: false, allErrors: true } },
    return503OnClosing: true,
  });

  // The auth cache's change channel (Redis or PostgreSQL) going away or coming back is worth a line.
  const onChannel = ({ listening, reason }: { listening: boolean; reason?: string }) => {
    if (listening) app.log.info('auth cache: other instances\' changes reach this one again');
    else app.log.warn(`auth cache: other instances' changes cannot reach this one (${reason ?? 'unknown'}); every request asks the store until they can`);
  };
  const hsts = { hsts: config.secureCookies };
  registerPageHeaders(app, hsts);
  portcullis.events.on('change_channel', onChannel);
  app.addHook('onClose', (_app, done) => {
    portcullis.events.off('change_channel', onChannel);
    done();
  });

  logSecurityEvents(app, portcullis);
  if (config.accessLog) registerAccessLog(app);
  registerMetrics(app, portcullis);

  registerJsonBody(app);
  decorateAuth(app);
  registerErrorHandling(app);
  registerCookies(app);
  registerRequestRules(app, portcullis, hsts);
  app.addSchema(UserSchema);
  app.addSchema(ErrorSchema);

  await app.register(swagger, {
    openapi: {
      info: { title: 'portcullis', version: '0.1.0', description: 'Accounts, sessions and tokens.' },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: config.sessionCookieName },
          sessionHeader: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'Session <key>' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(accountRoutes, { prefix: '/api/auth', portcullis });
  await app.register(adminRoutes, { prefix: '/api/admin', portcullis });
  await app.register(pageRoutes, { portcullis });
  await app.register(tokenRoutes, { portcullis });
  await app.register(passwordRoutes, { prefix: '/api/auth', portcullis });
  await app.register(healthRoutes, { portcullis });
  return app;
}
