import type { Locale } from '../i18n/messages.js';
import type { User } from '../users/types.js';
import { assetUrl, SCRIPT, STYLESHEET } from './assets.js';
import { html, type Html } from './html.js';
import type { Translate } from './strings.js';

/** What every page knows about its request. */
export interface PageContext {
  locale: Locale;
  t: Translate;
  /** The synchronizer token every form of the page carries. */
  csrfToken: string;
  user: User | null;
}

export interface PageOptions {
  title: string;
  body: Html;
  narrow?: boolean;
  /** A status line shown above the content (after a redirect), announced by screen readers. */
  notice?: string | null;
}

export function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="csrfmiddlewaretoken" value="${ctx.csrfToken}">`;
}

function navigation(ctx: PageContext): Html {
  const { t, user } = ctx;
  const items = user
    ? html`<li><a href="/account">${t('nav_account')}</a></li>
        ${user.is_staff ? html`<li><a href="/admin/">${t('nav_admin')}</a></li>` : ''}
        <li><form class="inline" method="post" action="/logout">${csrfField(ctx)}<button type="submit" class="secondary">${t('logout')}</button></form></li>`
    : html`<li><a href="/login">${t('nav_login')}</a></li><li><a href="/register">${t('nav_register')}</a></li>`;
  return html`<nav aria-label="${t('nav_label')}"><ul>${items}</ul></nav>`;
}

export function layout(ctx: PageContext, page: PageOptions): Html {
  const { t } = ctx;
  return html`<!doctype html>
<html lang="${ctx.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${page.title} · ${t('site')}</title>
<link rel="stylesheet" href="${assetUrl(STYLESHEET)}">
<script src="${assetUrl(SCRIPT)}" defer></script>
</head>
<body>
<a class="skip-link" href="#main">${t('skip')}</a>
<header class="site"><a class="brand" href="/account">${t('site')}</a>${navigation(ctx)}</header>
<main id="main" tabindex="-1"${page.narrow ? html` class="narrow"` : ''}>
<h1>${page.title}</h1>
${page.notice ? html`<p class="notice" role="status">${page.notice}</p>` : ''}
${page.body}
</main>
</body>
</html>
`;
}
