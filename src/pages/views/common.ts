import { html, type Html } from '../html.js';
import type { PageContext } from '../layout.js';

const formats = new Map<string, Intl.DateTimeFormat>();

/** A moment in UTC (the server cannot know the reader's zone; the script switches it to local time). */
export function time(ctx: PageContext, when: Date | null): Html {
  if (!when) return html`${ctx.t('never')}`;
  let format = formats.get(ctx.locale);
  if (!format) formats.set(ctx.locale, (format = new Intl.DateTimeFormat(ctx.locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })));
  return html`<time datetime="${when.toISOString()}" data-local>${format.format(when)} UTC</time>`;
}

export function yesNo(ctx: PageContext, value: boolean): string {
  return value ? ctx.t('yes') : ctx.t('no');
}
