/**
 * The whole template language: a tagged template that escapes every interpolated value unless it
 * is already Html. Escaping by default means a forgotten call leaks markup as text, never as code.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => (out += render(v) + (strings[i + 1] ?? '')));
  return new Html(out);
}

/** Markup from a trusted source (our own constants); never for anything a user typed. */
export function trusted(markup: string): Html {
  return new Html(markup);
}

/** An attribute that is present or absent (`required`, `checked`, `autofocus`). */
export function flag(name: string, on: boolean | undefined): Html {
  return new Html(on ? ` ${name}` : '');
}
