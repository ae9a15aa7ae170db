import type { FastifyInstance } from 'fastify';
import type { Portcullis } from '../portcullis.js';
import { toApiError } from '../http/errors.js';
import { logRefusal } from '../http/request-log.js';
import { errorMessage } from '../i18n/messages.js';
import { ASSETS } from './assets.js';
import { pageContext, sendPage, type FormBody } from './context.js';
import type { StringKey } from './strings.js';
import { errorPage } from './views/error.js';
import { authPages } from './routes/auth.js';
import { accountPages } from './routes/account.js';
import { adminPages } from './routes/admin.js';
import { resetPages } from './routes/reset.js';

/**
 * No inline script or style, forms post only to us, and no other site may frame a page (clickjacking
 * on the admin buttons). Set here, on the page routes alone, so the API keeps its own headers.
 */
export const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const ERROR_TITLES: Record<number, StringKey> = { 400: 'error_400', 403: 'error_403', 404: 'error_404', 415: 'error_415', 429: 'error_429', 503: 'error_503' };

function parseForm(text: string): FormBody {
  const form: FormBody = Object.create(null) as FormBody;
  for (const [name, value] of new URLSearchParams(text)) if (!(name in form)) form[name] = value;
  return form;
}

/**
 * The server-rendered pages, in an encapsulated plugin: only here are urlencoded form bodies
 * accepted (the API stays JSON-only) and errors rendered as HTML pages instead of JSON.
 */
export async function pageRoutes(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, parseForm(body as string)));

  // Pages are not part of the API: keep them out of /openapi.json.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
  });

  app.addHook('onSend', async (request, reply) => {
    reply.header('Content-Security-Policy', PAGE_CSP);
    if (request.url.startsWith('/static/')) return;
    // Pages show a user's data and carry CSRF tokens: never from a shared or back-button cache.
    reply.header('Cache-Control', 'no-store');
    const vary = reply.getHeader('Vary');
    reply.header('Vary', [vary, 'Accept-Language', 'Cookie'].filter(Boolean).join(', '));
  });

  app.setErrorHandler(async (error, request, reply) => {
    const api = toApiError(error);
    if (!api) request.log.error({ err: error }, 'unhandled error on a page');
    else logRefusal(request, api);
    if (api?.headers) reply.headers(api.headers);
    const status = api?.status ?? 500;
    const ctx = await pageContext(portcullis, request, reply).catch(() => null);
    if (!ctx) return reply.code(status).type('text/plain; charset=utf-8').send(String(status));
    const { t } = ctx;
    const page =
      api?.code === 'csrf_failed'
        ? errorPage(ctx, t('error_403'), `${t('csrf_title')} ${t('csrf_help')}`)
        : api?.code === 'permission_denied'
          ? errorPage(ctx, t('error_403'), t('forbidden_help'))
          : errorPage(ctx, t(ERROR_TITLES[status] ?? 'error_500'), api ? errorMessage(api.code, ctx.locale) : t('error_500'));
    return sendPage(reply, page, status);
  });

  for (const asset of ASSETS) {
    app.get(asset.path, async (_request, reply) =>
      // Linked with ?v=<content hash>, so a copy can be kept for good.
      reply.type(asset.type).header('Cache-Control', 'public, max-age=31536000, immutable').send(asset.body),
    );
  }

  await app.register(authPages, { portcullis });
  await app.register(accountPages, { portcullis });
  await app.register(adminPages, { portcullis });
  await app.register(resetPages, { portcullis });
}
