import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import type * as LanguageCommon from '@zxcvbn-ts/language-common';

import { pyStrip } from './python-text.js';

/** The npm package the default list comes from (zxcvbn-ts' ~49k common passwords, all lower case). */
export const COMMON_PASSWORDS_SOURCE = '@zxcvbn-ts/language-common';

const require = createRequire(import.meta.url);
let defaultList: ReadonlySet<string> | undefined;

/** Same normalisation as the lookup, so a list in any case or with stray spaces still matches. */
export function normalizeCommonPassword(password: string): string {
  return pyStrip(password.toLowerCase());
}

export function toCommonPasswordSet(passwords: Iterable<string>): ReadonlySet<string> {
  const set = new Set<string>();
  for (const p of passwords) {
    const normalized = normalizeCommonPassword(p);
    // A blank line (or the one after a trailing newline) would otherwise make '' "too common".
    if (normalized) set.add(normalized);
  }
  return set;
}

/**
 * Loaded on first use rather than at import: decompressing the list costs tens of milliseconds and
 * a few MB, which processes that never validate a new password (workers, CLI commands) shouldn't
 * pay. Synchronous require keeps validate() synchronous, as in Django. Shared by every validator.
 */
export function defaultCommonPasswords(): ReadonlySet<string> {
  if (!defaultList) {
    const pkg = require(COMMON_PASSWORDS_SOURCE) as typeof LanguageCommon;
    defaultList = toCommonPasswordSet(pkg.dictionary['passwords-common']);
  }
  return defaultList;
}

/** Django's password_list_path: one password per line, optionally gzipped. */
export function readPasswordListFile(path: string): ReadonlySet<string> {
  let data = readFileSync(path);
  // Sniff the gzip magic rather than trusting the extension, like Django's try-gzip-then-plain.
  if (data[0] === 0x1f && data[1] === 0x8b) data = gunzipSync(data);
  return toCommonPasswordSet(data.toString('utf8').split('\n'));
}
