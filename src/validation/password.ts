/**
 * Django's password validators (django/contrib/auth/password_validation.py), plus a maximum
 * length check so the policy endpoint can tell clients about the hashing cap up front.
 *
 * Validators return message ids instead of raising, so every problem can be reported at once and
 * each transport (JSON API, CLI) decides how to render them; see ./messages.ts.
 */
import { MAX_PASSWORD_LENGTH } from '../passwords/base.js';
import { defaultCommonPasswords, readPasswordListFile, toCommonPasswordSet, normalizeCommonPassword } from './common-passwords.js';
import { passwordAttributeVerboseNames, passwordMessageId } from './messages.js';
import { pyIsDigit, pyLen, pySplitNonWord } from './python-text.js';
import { SequenceMatcher } from './sequence-matcher.js';

export { SequenceMatcher, type Match } from './sequence-matcher.js';
export {
  passwordValidationMessages,
  passwordAttributeVerboseNames,
  formatPasswordValidationMessage,
  parsePasswordMessageId,
  type PasswordMessageLocale,
} from './messages.js';
export { COMMON_PASSWORDS_SOURCE } from './common-passwords.js';

export interface UserAttributes {
  username?: string;
  email?: string;
  first_name?: string;
  last_name?: string;
}

export interface PasswordValidator {
  readonly name: string;
  /** returns message ids (empty when fine). An id is 'key' or 'key|param=value|param2=value2'. */
  validate(password: string, user?: UserAttributes): string[];
  /** a machine-readable description for GET /api/auth/password-policy, e.g. {name:'minimum_length', min_length: 8} */
  describe(): Record<string, unknown>;
}

export const DEFAULT_MIN_LENGTH = 8;
export const DEFAULT_MAX_LENGTH = MAX_PASSWORD_LENGTH;
export const DEFAULT_USER_ATTRIBUTES: readonly string[] = ['username', 'first_name', 'last_name', 'email'];
export const DEFAULT_MAX_SIMILARITY = 0.7;

function requireLength(option: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`passwordValidators: ${option} must be a non-negative integer, got ${String(value)}.`);
  }
  return value;
}

export function minimumLengthValidator(options: { minLength?: number } = {}): PasswordValidator {
  const minLength = requireLength('min_length', options.minLength ?? DEFAULT_MIN_LENGTH);
  return {
    name: 'minimum_length',
    validate(password) {
      // Code points, like Python's len(): "🔑🔑🔑🔑" is four characters to Django, not eight.
      return pyLen(password) < minLength ? [passwordMessageId('password_too_short', { min_length: minLength })] : [];
    },
    describe: () => ({ name: 'minimum_length', min_length: minLength }),
  };
}

/**
 * Django's exceeds_maximum_length_ratio(): quick_ratio() can't reach max_similarity once the
 * password is 10+ times longer than the value and the value is short relative to the bound, so the
 * comparison is skipped. Kept identical because it also decides outcomes at the boundary (an
 * empty part is skipped against any non-empty password).
 */
function exceedsMaximumLengthRatio(passwordLength: number, maxSimilarity: number, valueLength: number): boolean {
  const lengthBoundSimilarity = (maxSimilarity / 2) * passwordLength;
  return passwordLength >= 10 * valueLength && valueLength < lengthBoundSimilarity;
}

export function userAttributeSimilarityValidator(
  options: { attributes?: string[]; maxSimilarity?: number } = {},
): PasswordValidator {
  const attributes = [...(options.attributes ?? DEFAULT_USER_ATTRIBUTES)];
  const maxSimilarity = options.maxSimilarity ?? DEFAULT_MAX_SIMILARITY;
  if (typeof maxSimilarity !== 'number' || Number.isNaN(maxSimilarity)) {
    throw new TypeError('passwordValidators: max_similarity must be a number.');
  }
  // Django's floor: below 0.1 nearly every password would be "similar" to something.
  if (maxSimilarity < 0.1) throw new RangeError('max_similarity must be at least 0.1');

  return {
    name: 'user_attribute_similarity',
    validate(password, user) {
      if (!user) return [];
      const pwd = Array.from(password.toLowerCase());
      for (const attribute of attributes) {
        const value = (user as Record<string, unknown>)[attribute];
        if (!value || typeof value !== 'string') continue;
        const valueLower = value.toLowerCase();
        // The parts catch a password built from one piece of an email address or a dotted name.
        for (const part of [...pySplitNonWord(valueLower), valueLower]) {
          const partChars = Array.from(part);
          if (exceedsMaximumLengthRatio(pwd.length, maxSimilarity, partChars.length)) continue;
          if (new SequenceMatcher({ a: pwd, b: partChars }).quickRatio() >= maxSimilarity) {
            const verboseName = passwordAttributeVerboseNames.en[attribute] ?? attribute;
            // Django stops at the first similar attribute; one message is enough to act on.
            return [passwordMessageId('password_too_similar', { verbose_name: verboseName, attribute })];
          }
        }
      }
      return [];
    },
    describe: () => ({ name: 'user_attribute_similarity', user_attributes: [...attributes], max_similarity: maxSimilarity }),
  };
}

export function commonPasswordValidator(options: { passwords?: Iterable<string>; passwordListPath?: string } = {}): PasswordValidator {
  // A custom list is read now so a bad path or iterable fails at startup, not on a user's request.
  const custom =
    options.passwords !== undefined
      ? toCommonPasswordSet(options.passwords)
      : options.passwordListPath !== undefined
        ? readPasswordListFile(options.passwordListPath)
        : undefined;
  return {
    name: 'common',
    validate(password) {
      const list = custom ?? defaultCommonPasswords();
      return list.has(normalizeCommonPassword(password)) ? ['password_too_common'] : [];
    },
    describe: () => ({ name: 'common' }),
  };
}

export function numericPasswordValidator(): PasswordValidator {
  return {
    name: 'numeric',
    validate: (password) => (pyIsDigit(password) ? ['password_entirely_numeric'] : []),
    describe: () => ({ name: 'numeric' }),
  };
}

export function maximumLengthValidator(options: { maxLength?: number } = {}): PasswordValidator {
  const maxLength = requireLength('max_length', options.maxLength ?? DEFAULT_MAX_LENGTH);
  return {
    name: 'maximum_length',
    validate(password) {
      // UTF-16 units, unlike the minimum: this guards the same budget as the hashers'
      // MAX_PASSWORD_LENGTH and matches an HTML maxlength attribute. Never truncate: a silently
      // shortened password would not be the one the user typed.
      return password.length > maxLength ? [passwordMessageId('password_too_long', { max_length: maxLength })] : [];
    },
    describe: () => ({ name: 'maximum_length', max_length: maxLength }),
  };
}

/** Django's startproject order, then the length cap. */
export const DEFAULT_PASSWORD_VALIDATORS = (): PasswordValidator[] => [
  userAttributeSimilarityValidator(),
  minimumLengthValidator(),
  commonPasswordValidator(),
  numericPasswordValidator(),
  maximumLengthValidator(),
];

export type PasswordValidatorSpec = string | { name: string; options?: Record<string, unknown> } | PasswordValidator;

type Factory = (options: Record<string, unknown>, name: string) => PasswordValidator;

/** Reads one option under its camelCase or Django (snake_case) name, checking its type. */
function option<T>(
  options: Record<string, unknown>,
  validator: string,
  names: readonly string[],
  check: (value: unknown) => value is T,
  expected: string,
): T | undefined {
  for (const name of names) {
    const value = options[name];
    if (value === undefined) continue;
    if (!check(value)) throw new TypeError(`passwordValidators: option "${name}" of "${validator}" must be ${expected}.`);
    return value;
  }
  return undefined;
}

const isNumber = (v: unknown): v is number => typeof v === 'number';
const isString = (v: unknown): v is string => typeof v === 'string';
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isStringIterable = (v: unknown): v is Iterable<string> =>
  typeof v === 'object' && v !== null && Symbol.iterator in v;

const FACTORIES: Record<string, { options: readonly string[]; create: Factory }> = {
  minimum_length: {
    options: ['minLength', 'min_length'],
    create: (o, n) => minimumLengthValidator({ minLength: option(o, n, ['minLength', 'min_length'], isNumber, 'a number') }),
  },
  user_attribute_similarity: {
    options: ['attributes', 'user_attributes', 'maxSimilarity', 'max_similarity'],
    create: (o, n) =>
      userAttributeSimilarityValidator({
        attributes: option(o, n, ['attributes', 'user_attributes'], isStringArray, 'an array of strings'),
        maxSimilarity: option(o, n, ['maxSimilarity', 'max_similarity'], isNumber, 'a number'),
      }),
  },
  common: {
    options: ['passwords', 'passwordListPath', 'password_list_path'],
    create: (o, n) =>
      commonPasswordValidator({
        passwords: option(o, n, ['passwords'], isStringIterable, 'an iterable of strings'),
        passwordListPath: option(o, n, ['passwordListPath', 'password_list_path'], isString, 'a file path'),
      }),
  },
  numeric: { options: [], create: () => numericPasswordValidator() },
  maximum_length: {
    options: ['maxLength', 'max_length'],
    create: (o, n) => maximumLengthValidator({ maxLength: option(o, n, ['maxLength', 'max_length'], isNumber, 'a number') }),
  },
};

// Lets a Django AUTH_PASSWORD_VALIDATORS list be pasted in as it is.
const DJANGO_CLASS_NAMES: Record<string, string> = {
  UserAttributeSimilarityValidator: 'user_attribute_similarity',
  MinimumLengthValidator: 'minimum_length',
  CommonPasswordValidator: 'common',
  NumericPasswordValidator: 'numeric',
};

function resolveName(name: string): string {
  const short = name.slice(name.lastIndexOf('.') + 1);
  return DJANGO_CLASS_NAMES[short] ?? name;
}

function isValidatorObject(spec: object): spec is PasswordValidator {
  return typeof (spec as PasswordValidator).validate === 'function';
}

export function createPasswordValidators(spec?: PasswordValidatorSpec[]): PasswordValidator[] {
  if (spec === undefined) return DEFAULT_PASSWORD_VALIDATORS();
  return spec.map((entry) => {
    if (typeof entry === 'object' && entry !== null && isValidatorObject(entry)) {
      if (typeof entry.describe !== 'function' || typeof entry.name !== 'string') {
        throw new TypeError('passwordValidators: a validator object needs a name, validate() and describe().');
      }
      return entry;
    }
    const { name, options = {} } = typeof entry === 'string' ? { name: entry } : (entry as { name: string; options?: Record<string, unknown> });
    if (typeof name !== 'string') throw new TypeError('passwordValidators: each entry needs a validator name.');
    const factory = FACTORIES[resolveName(name)];
    if (!factory) {
      throw new TypeError(
        `passwordValidators: there is no password validator named "${name}"; use one of ${Object.keys(FACTORIES).join(', ')}.`,
      );
    }
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`passwordValidators: options of "${name}" must be an object.`);
    }
    // An unknown key is almost always a typo that would otherwise silently leave the default in place.
    const unknown = Object.keys(options).filter((key) => !factory.options.includes(key));
    if (unknown.length) {
      throw new TypeError(`passwordValidators: "${name}" has no option ${unknown.map((k) => `"${k}"`).join(', ')}.`);
    }
    return factory.create(options, name);
  });
}

export function validatePassword(password: string, user: UserAttributes | undefined, validators: PasswordValidator[]): string[] {
  // Unlike a fail-fast check, every validator runs so the user can fix everything in one go.
  return validators.flatMap((validator) => validator.validate(password, user));
}

/**
 * The policy a registration form needs up front. min_length/max_length are the tightest bounds any
 * validator describes (custom validators may expose them too); with no minimum the bound is 0, and
 * with no maximum it is still the hashers' MAX_PASSWORD_LENGTH, which the server enforces anyway.
 */
export function describePasswordPolicy(validators: PasswordValidator[]): {
  validators: Record<string, unknown>[];
  min_length: number;
  max_length: number;
} {
  const described = validators.map((validator) => validator.describe());
  let minLength = 0;
  let maxLength = MAX_PASSWORD_LENGTH;
  for (const d of described) {
    if (typeof d.min_length === 'number') minLength = Math.max(minLength, d.min_length);
    if (typeof d.max_length === 'number') maxLength = Math.min(maxLength, d.max_length);
  }
  return { validators: described, min_length: minLength, max_length: maxLength };
}
