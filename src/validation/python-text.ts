/**
 * The few Python str semantics Django's validators rely on. JavaScript's nearest built-ins differ
 * at the edges (String.length counts UTF-16 units, trim() strips U+FEFF but not U+001C–U+001F,
 * /\d/ knows nothing of "²" or "①"), and a port that disagrees with Django on which passwords are
 * acceptable is not a port. Tables were generated from CPython 3.11 (Unicode 14); characters
 * added in later Unicode versions follow the JavaScript engine's data.
 */

/** len(s): code points, so an emoji counts once as it does in Django. */
export function pyLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

// Python's str.isspace(): bidi class WS, B or S, or category Zs.
const PY_SPACE = '\\t\\n\\v\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEADING_SPACE = new RegExp(`^[${PY_SPACE}]+`, 'u');
const TRAILING_SPACE = new RegExp(`[${PY_SPACE}]+$`, 'u');

/** str.strip() with no arguments. */
export function pyStrip(s: string): string {
  return s.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');
}

// str.isdigit() accepts Numeric_Type=Digit as well as Decimal: superscripts, circled digits etc.
const PY_DIGIT =
  /^[\p{Nd}\u{B2}-\u{B3}\u{B9}\u{1369}-\u{1371}\u{19DA}\u{2070}\u{2074}-\u{2079}\u{2080}-\u{2089}\u{2460}-\u{2468}\u{2474}-\u{247C}\u{2488}-\u{2490}\u{24EA}\u{24F5}-\u{24FD}\u{24FF}\u{2776}-\u{277E}\u{2780}-\u{2788}\u{278A}-\u{2792}\u{10A40}-\u{10A43}\u{10E60}-\u{10E68}\u{11052}-\u{1105A}\u{1F100}-\u{1F10A}]+$/u;

/** str.isdigit(): false for the empty string. */
export function pyIsDigit(s: string): boolean {
  return PY_DIGIT.test(s);
}

// re's \W on str: anything that is not alphanumeric (str.isalnum()) or "_". Combining marks are
// not word characters in Python, so \p{M} is deliberately left out.
const PY_NON_WORD_RUN = /[^\p{L}\p{N}_]+/u;

/** re.split(r"\W+", s), including the empty strings Python yields at leading/trailing separators. */
export function pySplitNonWord(s: string): string[] {
  return s.split(PY_NON_WORD_RUN);
}
