import { html } from '../html.js';
import { layout, type PageContext } from '../layout.js';

export function errorPage(ctx: PageContext, title: string, message: string) {
  const body = html`<p>${message}</p><p><a href="/account">${ctx.t('back_home')}</a></p>`;
  return layout(ctx, { title, body, narrow: true });
}
