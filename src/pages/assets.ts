import { createHash } from 'node:crypto';

/**
 * The pages' one stylesheet and one script, kept as strings so the build (which compiles only .ts)
 * ships them and no CDN is ever needed. They are served under a content hash, so a browser may
 * keep them forever and still never sees a stale copy.
 */

const CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #57606a; --line: #d0d7de; --accent: #0b57d0; --error: #b3261e; --ok: #146c2e; --panel: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9da7b3; --line: #30363d; --accent: #79b8ff; --error: #ff8a80; --ok: #7ee2a8; --panel: #161b22; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.skip-link { position: absolute; left: -10000px; top: 0; background: var(--bg); padding: .5rem 1rem; z-index: 10; }
.skip-link:focus { left: 1rem; top: 1rem; }
header.site { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; justify-content: space-between; padding: .75rem 1.5rem; border-bottom: 1px solid var(--line); }
header.site .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
header.site nav ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; align-items: center; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
main.narrow { max-width: 26rem; }
h1 { font-size: 1.6rem; margin-top: 0; }
section { margin: 2rem 0; }
.field { margin: 0 0 1rem; }
.field label { display: block; font-weight: 600; margin-bottom: .25rem; }
.field.check label { display: inline; font-weight: 400; }
input[type=text], input[type=email], input[type=tel], input[type=password], input[type=search], textarea { width: 100%; padding: .5rem; font: inherit; color: inherit; background: var(--bg); border: 1px solid var(--muted); border-radius: 4px; }
input[aria-invalid=true], textarea[aria-invalid=true] { border: 2px solid var(--error); }
.help { color: var(--muted); font-size: .9rem; margin: .25rem 0 0; }
.errorlist { color: var(--error); margin: .25rem 0 0; padding: 0; list-style: none; font-weight: 600; }
.notice { padding: .75rem 1rem; border-left: 4px solid var(--ok); background: var(--panel); }
.alert { padding: .75rem 1rem; border-left: 4px solid var(--error); background: var(--panel); }
button, .button { font: inherit; padding: .45rem 1rem; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: var(--bg); cursor: pointer; }
button.secondary { background: transparent; color: var(--accent); }
button.danger { background: transparent; border-color: var(--error); color: var(--error); }
form.inline { display: inline; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; font-weight: 600; padding: .5rem 0; }
th, td { text-align: left; padding: .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; }
.badge { display: inline-block; font-size: .8rem; padding: 0 .5rem; border-radius: 1rem; border: 1px solid var(--ok); color: var(--ok); }
.search { display: flex; gap: .5rem; align-items: flex-end; margin-bottom: 1rem; }
.search .field { flex: 1; margin: 0; }
nav.pages ul { display: flex; gap: 1rem; list-style: none; padding: 0; }
dl.profile { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.profile dt { font-weight: 600; }
dl.profile dd { margin: 0; }
fieldset { border: 1px solid var(--line); border-radius: 4px; margin: 0 0 1rem; }
`;

const JS = `
'use strict';
// Progressive enhancement only: every page works without this file.
document.addEventListener('submit', function (event) {
  var form = event.target;
  var message = form && form.getAttribute && form.getAttribute('data-confirm');
  if (message && !window.confirm(message)) event.preventDefault();
});
document.addEventListener('DOMContentLoaded', function () {
  // Times are rendered in UTC by the server; show them in the reader's own time zone.
  var lang = document.documentElement.lang || undefined;
  document.querySelectorAll('time[data-local]').forEach(function (el) {
    var when = new Date(el.getAttribute('datetime'));
    if (!isNaN(when.getTime())) el.textContent = when.toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' });
  });
});
`;

export interface Asset {
  path: string;
  body: string;
  type: string;
  hash: string;
}

function asset(name: string, body: string, type: string): Asset {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { path: `/static/${name}`, body, type, hash };
}

export const STYLESHEET = asset('portcullis.css', CSS.trimStart(), 'text/css; charset=utf-8');
export const SCRIPT = asset('portcullis.js', JS.trimStart(), 'text/javascript; charset=utf-8');
export const ASSETS = [STYLESHEET, SCRIPT];

export function assetUrl(a: Asset): string {
  return `${a.path}?v=${a.hash}`;
}
