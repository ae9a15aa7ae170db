import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  DEFAULT_PASSWORD_VALIDATORS,
  SequenceMatcher,
  commonPasswordValidator,
  createPasswordValidators,
  describePasswordPolicy,
  formatPasswordValidationMessage,
  maximumLengthValidator,
  minimumLengthValidator,
  numericPasswordValidator,
  passwordValidationMessages,
  userAttributeSimilarityValidator,
  validatePassword,
  type PasswordValidator,
} from './password.js';
import { defaultCommonPasswords } from './common-passwords.js';
import { pyIsDigit, pyLen, pySplitNonWord, pyStrip } from './python-text.js';

describe('SequenceMatcher (values from CPython 3.11 difflib)', () => {
  // [a, b, ratio(), quick_ratio(), get_matching_blocks()]
  const cases: Array<[string, string, number, number, Array<[number, number, number]>]> = [
    ['password', 'passw0rd', 0.875, 0.875, [[0, 0, 5], [6, 6, 2], [8, 8, 0]]],
    ['testclient', 'testclient', 1.0, 1.0, [[0, 0, 10], [10, 10, 0]]],
    ['abcd', 'bcde', 0.75, 0.75, [[1, 0, 3], [4, 4, 0]]],
    ['', '', 1.0, 1.0, [[0, 0, 0]]],
    ['', 'abc', 0.0, 0.0, [[0, 3, 0]]],
    ['private', 'ivate', 0.8333333333333334, 0.8333333333333334, [[2, 0, 5], [7, 5, 0]]],
    ['qabxcd', 'abycdf', 0.6666666666666666, 0.6666666666666666, [[1, 0, 2], [4, 3, 2], [6, 6, 0]]],
    ['a', 'aaaaaaaaaa', 0.18181818181818182, 0.18181818181818182, [[0, 0, 1], [1, 10, 0]]],
    ['the quick brown fox', 'the lazy dog', 0.3870967741935484, 0.3870967741935484, [[0, 0, 4], [9, 8, 1], [12, 10, 1], [19, 12, 0]]],
    // Astral characters count once, as in Python.
    ['😀abc', 'abc😀', 0.75, 1.0, [[1, 0, 3], [4, 4, 0]]],
    // autojunk: with 200+ elements in b, elements above 1% + 1 are dropped from matching.
    ['xxx' + 'ab'.repeat(120), 'ab'.repeat(150) + 'y', 0.0, 0.8823529411764706, [[243, 301, 0]]],
    ['a' + 'b'.repeat(250), 'b'.repeat(250) + 'a', 0.00398406374501992, 1.0, [[0, 250, 1], [251, 251, 0]]],
    ['a'.repeat(199) + 'b', 'a'.repeat(199) + 'b', 1.0, 1.0, [[0, 0, 200], [200, 200, 0]]],
  ];
  for (const [a, b, ratio, quick, blocks] of cases) {
    it(`${JSON.stringify(a.slice(0, 12))} vs ${JSON.stringify(b.slice(0, 12))}`, () => {
      const sm = new SequenceMatcher({ a, b });
      assert.equal(sm.ratio(), ratio);
      assert.equal(sm.quickRatio(), quick);
      assert.deepEqual(
        sm.getMatchingBlocks().map((m) => [m.a, m.b, m.size]),
        blocks,
      );
    });
  }

  it('can turn autojunk off, as Python allows', () => {
    assert.equal(new SequenceMatcher({ a: 'xxx' + 'ab'.repeat(120), b: 'ab'.repeat(150) + 'y', autojunk: false }).ratio(), 0.8823529411764706);
    assert.equal(new SequenceMatcher({ a: 'a' + 'b'.repeat(250), b: 'b'.repeat(250) + 'a', autojunk: false }).ratio(), 0.9960159362549801);
  });

  it('reproduces the table in Django’s exceeds_maximum_length_ratio docstring', () => {
    const expected = [1.0, 0.18181818181818182, 0.019801980198019802, 0.001998001998001998, 0.00019998000199980003];
    expected.forEach((value, i) => {
      assert.equal(new SequenceMatcher({ a: 'A', b: 'A'.repeat(10 ** i) }).quickRatio(), value);
    });
  });
});

describe('Python str helpers', () => {
  it('len() counts code points', () => {
    assert.equal(pyLen('🔑🔑'), 2);
    assert.equal(pyLen(''), 0);
  });
  it('strip() uses Python’s whitespace set', () => {
    assert.equal(pyStrip('\u3000\t password \u001f\u0085'), 'password');
    assert.equal(pyStrip('\ufeffpassword'), '\ufeffpassword');
  });
  it('isdigit() accepts Unicode digits but not other numerics', () => {
    assert.equal(pyIsDigit('12345'), true);
    assert.equal(pyIsDigit('١٢٣'), true);
    assert.equal(pyIsDigit('²①'), true);
    assert.equal(pyIsDigit('½'), false);
    assert.equal(pyIsDigit('12a'), false);
    assert.equal(pyIsDigit(''), false);
  });
  it('re.split(r"\\W+") keeps empty edges and treats underscore and letters as word characters', () => {
    assert.deepEqual(pySplitNonWord('testclient@example.com'), ['testclient', 'example', 'com']);
    assert.deepEqual(pySplitNonWord('.jane_doe.'), ['', 'jane_doe', '']);
    assert.deepEqual(pySplitNonWord('zoë-ñandú'), ['zoë', 'ñandú']);
  });
});

describe('minimumLengthValidator', () => {
  it('rejects 7 characters and accepts 8 by default', () => {
    const v = minimumLengthValidator();
    assert.deepEqual(v.validate('1234567'), ['password_too_short|min_length=8']);
    assert.deepEqual(v.validate('12345678'), []);
  });
  it('is configurable and counts code points', () => {
    const v = minimumLengthValidator({ minLength: 3 });
    assert.deepEqual(v.validate('🔑🔑'), ['password_too_short|min_length=3']);
    assert.deepEqual(v.validate('🔑🔑🔑'), []);
    assert.deepEqual(v.describe(), { name: 'minimum_length', min_length: 3 });
  });
  it('rejects nonsense lengths at construction', () => {
    assert.throws(() => minimumLengthValidator({ minLength: -1 }), RangeError);
    assert.throws(() => minimumLengthValidator({ minLength: 2.5 }), RangeError);
  });
});

describe('userAttributeSimilarityValidator (Django’s test cases)', () => {
  const user = {
    username: 'testclient',
    email: 'testclient@example.com',
    first_name: 'Test',
    last_name: 'Client',
  };

  it('does nothing without a user', () => {
    assert.deepEqual(userAttributeSimilarityValidator().validate('testclient'), []);
  });

  it('rejects a password equal to the username', () => {
    assert.deepEqual(userAttributeSimilarityValidator().validate('testclient', user), [
      'password_too_similar|verbose_name=username|attribute=username',
    ]);
    assert.deepEqual(userAttributeSimilarityValidator().validate('TestClient', { username: 'testclient' }), [
      'password_too_similar|verbose_name=username|attribute=username',
    ]);
  });

  it('checks each part of the email address', () => {
    const v = userAttributeSimilarityValidator({ attributes: ['email'] });
    const expected = ['password_too_similar|verbose_name=email address|attribute=email'];
    assert.deepEqual(v.validate('example.com', user), expected);
    assert.deepEqual(v.validate('testclient', user), expected);
    assert.deepEqual(v.validate('example', user), expected);
    assert.deepEqual(v.validate('com', user), expected);
    assert.deepEqual(v.validate('testclient@example.com', user), expected);
    assert.deepEqual(v.validate('unrelated-horse-battery', user), []);
  });

  it('honours attributes and max_similarity', () => {
    const loose = userAttributeSimilarityValidator({ attributes: ['first_name'], maxSimilarity: 0.3 });
    assert.deepEqual(loose.validate('testclient', user), ['password_too_similar|verbose_name=first name|attribute=first_name']);
    // max_similarity=1 still rejects a password identical to the attribute.
    const strict = userAttributeSimilarityValidator({ attributes: ['first_name'], maxSimilarity: 1 });
    assert.deepEqual(strict.validate('Test', user), ['password_too_similar|verbose_name=first name|attribute=first_name']);
    assert.deepEqual(userAttributeSimilarityValidator({ attributes: ['first_name'] }).validate('testclient', user), []);
  });

  it('refuses a max_similarity below 0.1', () => {
    assert.throws(() => userAttributeSimilarityValidator({ maxSimilarity: 0.09 }), { message: 'max_similarity must be at least 0.1' });
    assert.doesNotThrow(() => userAttributeSimilarityValidator({ maxSimilarity: 0.1 }));
  });

  it('accepts an unrelated password', () => {
    assert.deepEqual(userAttributeSimilarityValidator().validate('correct horse battery staple', user), []);
  });

  it('skips values far shorter than the password, like Django', () => {
    // quick_ratio('aaaaaaaaaa', 'a') is 0.18 anyway; the early exit only saves the work.
    const v = userAttributeSimilarityValidator({ attributes: ['username'], maxSimilarity: 0.1 });
    assert.deepEqual(v.validate('a'.repeat(30), { username: 'a' }), []);
    assert.deepEqual(v.validate('a'.repeat(10), { username: 'a' }), ['password_too_similar|verbose_name=username|attribute=username']);
  });

  it('ignores missing, empty and non-string attributes and names custom ones by attribute', () => {
    const v = userAttributeSimilarityValidator({ attributes: ['username', 'nickname', 'phone'] });
    const person = { username: '', phone: 5551234, nickname: 'slartibartfast' } as Record<string, unknown>;
    assert.deepEqual(v.validate('slartibartfast', person), ['password_too_similar|verbose_name=nickname|attribute=nickname']);
    assert.deepEqual(v.validate('5551234', person), []);
  });

  it('stops at the first similar attribute', () => {
    assert.equal(userAttributeSimilarityValidator().validate('testclient', user).length, 1);
  });
});

describe('commonPasswordValidator', () => {
  it('ships a list of at least 20,000 passwords', () => {
    assert.ok(defaultCommonPasswords().size >= 20_000, `only ${defaultCommonPasswords().size} entries`);
  });

  it('rejects common passwords, ignoring case and surrounding whitespace', () => {
    const v = commonPasswordValidator();
    for (const p of ['password', '123456', 'godzilla', 'PassWord', '  qwerty\n']) {
      assert.deepEqual(v.validate(p), ['password_too_common'], p);
    }
  });

  it('accepts a random 16-character string', () => {
    const random = randomBytes(12).toString('base64url');
    assert.equal(random.length, 16);
    assert.deepEqual(commonPasswordValidator().validate(random), []);
    assert.deepEqual(commonPasswordValidator().validate('a-safe-password'), []);
  });

  it('takes a custom list', () => {
    const v = commonPasswordValidator({ passwords: ['Hunter2 ', 'tr0ub4dor'] });
    assert.deepEqual(v.validate('hunter2'), ['password_too_common']);
    assert.deepEqual(v.validate('TR0UB4DOR'), ['password_too_common']);
    assert.deepEqual(v.validate('password'), []);
    assert.deepEqual(v.validate(''), []);
  });

  it('reads Django-style list files, gzipped or not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-common-'));
    try {
      writeFileSync(join(dir, 'plain.txt'), 'alpha\r\nbravo\n');
      writeFileSync(join(dir, 'list.txt.gz'), gzipSync('charlie\ndelta\n'));
      const plain = commonPasswordValidator({ passwordListPath: join(dir, 'plain.txt') });
      const gz = commonPasswordValidator({ passwordListPath: join(dir, 'list.txt.gz') });
      assert.deepEqual(plain.validate('alpha'), ['password_too_common']);
      assert.deepEqual(plain.validate('bravo'), ['password_too_common']);
      assert.deepEqual(gz.validate('Delta'), ['password_too_common']);
      assert.deepEqual(gz.validate('alpha'), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('numericPasswordValidator', () => {
  it('rejects entirely numeric passwords', () => {
    const v = numericPasswordValidator();
    assert.deepEqual(v.validate('12345678901'), ['password_entirely_numeric']);
    assert.deepEqual(v.validate('42424242'), ['password_entirely_numeric']);
    assert.deepEqual(v.validate('a-safe-password'), []);
    assert.deepEqual(v.validate('1234 5678'), []);
    assert.deepEqual(v.validate(''), []);
  });
});

describe('maximumLengthValidator', () => {
  it('accepts 4096 characters and rejects 4097 by default', () => {
    const v = maximumLengthValidator();
    assert.deepEqual(v.validate('x'.repeat(4096)), []);
    assert.deepEqual(v.validate('x'.repeat(4097)), ['password_too_long|max_length=4096']);
  });
  it('is configurable', () => {
    assert.deepEqual(maximumLengthValidator({ maxLength: 10 }).validate('x'.repeat(11)), ['password_too_long|max_length=10']);
    assert.deepEqual(maximumLengthValidator({ maxLength: 10 }).describe(), { name: 'maximum_length', max_length: 10 });
  });
});

describe('validatePassword', () => {
  it('collects every message from every validator', () => {
    const problems = validatePassword('1234567', { username: 'someone' }, DEFAULT_PASSWORD_VALIDATORS());
    assert.deepEqual(problems, ['password_too_short|min_length=8', 'password_too_common', 'password_entirely_numeric']);
  });
  it('includes similarity problems', () => {
    const problems = validatePassword('testclient', { username: 'testclient' }, DEFAULT_PASSWORD_VALIDATORS());
    assert.deepEqual(problems, ['password_too_similar|verbose_name=username|attribute=username']);
  });
  it('returns nothing for a good password', () => {
    assert.deepEqual(validatePassword('correct horse battery staple', { username: 'jdoe' }, DEFAULT_PASSWORD_VALIDATORS()), []);
  });
});

describe('createPasswordValidators', () => {
  it('defaults to all five', () => {
    assert.deepEqual(
      createPasswordValidators().map((v) => v.name),
      ['user_attribute_similarity', 'minimum_length', 'common', 'numeric', 'maximum_length'],
    );
  });

  it('builds from names, {name, options} in camelCase or snake_case, and objects', () => {
    const custom: PasswordValidator = {
      name: 'no_spaces',
      validate: (p) => (p.includes(' ') ? ['no_spaces'] : []),
      describe: () => ({ name: 'no_spaces' }),
    };
    const validators = createPasswordValidators([
      'numeric',
      { name: 'minimum_length', options: { min_length: 12 } },
      { name: 'maximum_length', options: { maxLength: 64 } },
      { name: 'user_attribute_similarity', options: { user_attributes: ['email'], max_similarity: 0.5 } },
      { name: 'common', options: { passwords: ['swordfish'] } },
      custom,
    ]);
    assert.deepEqual(
      validators.map((v) => v.describe()),
      [
        { name: 'numeric' },
        { name: 'minimum_length', min_length: 12 },
        { name: 'maximum_length', max_length: 64 },
        { name: 'user_attribute_similarity', user_attributes: ['email'], max_similarity: 0.5 },
        { name: 'common' },
        { name: 'no_spaces' },
      ],
    );
    assert.equal(validators[5], custom);
    assert.deepEqual(validatePassword('swordfish fin', undefined, validators), ['no_spaces']);
    assert.deepEqual(validatePassword('swordfish', undefined, validators), ['password_too_short|min_length=12', 'password_too_common']);
  });

  it('accepts Django validator class paths', () => {
    const validators = createPasswordValidators([
      'django.contrib.auth.password_validation.UserAttributeSimilarityValidator',
      { name: 'django.contrib.auth.password_validation.MinimumLengthValidator', options: { min_length: 9 } },
      'CommonPasswordValidator',
      'NumericPasswordValidator',
    ]);
    assert.deepEqual(validators.map((v) => v.name), ['user_attribute_similarity', 'minimum_length', 'common', 'numeric']);
  });

  it('allows an empty list (no validation at all)', () => {
    assert.deepEqual(createPasswordValidators([]), []);
  });

  it('rejects unknown names, unknown options and wrongly typed options', () => {
    assert.throws(() => createPasswordValidators(['entropy']), /no password validator named "entropy"/);
    assert.throws(() => createPasswordValidators([{ name: 'minimum_length', options: { min_lenght: 10 } }]), /no option "min_lenght"/);
    assert.throws(() => createPasswordValidators([{ name: 'minimum_length', options: { min_length: '10' } }]), /must be a number/);
    assert.throws(() => createPasswordValidators([{ name: 'user_attribute_similarity', options: { max_similarity: 0.05 } }]), /at least 0.1/);
  });
});

describe('describePasswordPolicy', () => {
  it('summarises the defaults', () => {
    assert.deepEqual(describePasswordPolicy(DEFAULT_PASSWORD_VALIDATORS()), {
      validators: [
        { name: 'user_attribute_similarity', user_attributes: ['username', 'first_name', 'last_name', 'email'], max_similarity: 0.7 },
        { name: 'minimum_length', min_length: 8 },
        { name: 'common' },
        { name: 'numeric' },
        { name: 'maximum_length', max_length: 4096 },
      ],
      min_length: 8,
      max_length: 4096,
    });
  });
  it('uses the tightest bounds and falls back to 0 / the hashing cap', () => {
    const policy = describePasswordPolicy([minimumLengthValidator({ minLength: 10 }), minimumLengthValidator({ minLength: 12 }), maximumLengthValidator({ maxLength: 100 })]);
    assert.equal(policy.min_length, 12);
    assert.equal(policy.max_length, 100);
    assert.deepEqual(describePasswordPolicy([]), { validators: [], min_length: 0, max_length: 4096 });
  });
});

describe('passwordValidationMessages', () => {
  it('translates every key', () => {
    assert.deepEqual(Object.keys(passwordValidationMessages['zh-CN']).sort(), Object.keys(passwordValidationMessages.en).sort());
    for (const text of Object.values(passwordValidationMessages['zh-CN'])) assert.match(text, /\p{Script=Han}/u);
  });
  it('uses the same placeholders in both languages', () => {
    for (const [key, en] of Object.entries(passwordValidationMessages.en)) {
      const placeholders = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
      assert.deepEqual(placeholders(passwordValidationMessages['zh-CN'][key]!), placeholders(en), key);
    }
  });
  it('renders ids in Django’s English wording', () => {
    assert.equal(
      formatPasswordValidationMessage('password_too_short|min_length=8'),
      'This password is too short. It must contain at least 8 characters.',
    );
    assert.equal(formatPasswordValidationMessage('password_too_similar|verbose_name=email address|attribute=email'), 'The password is too similar to the email address.');
    assert.equal(formatPasswordValidationMessage('password_too_long|max_length=4096'), 'The password may have at most 4096 characters.');
    assert.equal(formatPasswordValidationMessage('password_too_common'), 'This password is too common.');
    assert.equal(formatPasswordValidationMessage('password_entirely_numeric'), 'This password is entirely numeric.');
    assert.equal(formatPasswordValidationMessage('something_else|x=1'), 'something_else|x=1');
  });
  it('translates the verbose name in Chinese, falling back to the attribute for custom ones', () => {
    assert.equal(formatPasswordValidationMessage('password_too_similar|verbose_name=first name|attribute=first_name', 'zh-CN'), '密码与名字过于相似。');
    assert.equal(formatPasswordValidationMessage('password_too_similar|verbose_name=email address|attribute=email', 'zh-CN'), '密码与电子邮件地址过于相似。');
    assert.equal(formatPasswordValidationMessage('password_too_similar|verbose_name=nickname|attribute=nickname', 'zh-CN'), '密码与nickname过于相似。');
    assert.equal(formatPasswordValidationMessage('password_too_short|min_length=10', 'zh-CN'), '密码太短，至少需要包含 10 个字符。');
  });
});
