import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkPassword,
  createHasher,
  createPasswordHashers,
  DEFAULT_HASHERS,
  identifyHasher,
  isPasswordUsable,
  makePassword,
  makeUnusablePassword,
  MAX_PASSWORD_LENGTH,
  PasswordHashers,
  PasswordTooLongError,
  PBKDF2PasswordHasher,
  setDefaultPasswordHashers,
} from './index.js';

const FAST = {
  argon2: { memoryCost: 256, timeCost: 1, parallelism: 1 },
  pbkdf2_sha256: { iterations: 1000 },
  pbkdf2_sha1: { iterations: 1000 },
  scrypt: { workFactor: 1024 },
  bcrypt_sha256: { rounds: 4 },
  bcrypt: { rounds: 4 },
};
const fast = (names: string[] = DEFAULT_HASHERS) => createPasswordHashers(names, { hasherOptions: FAST });
setDefaultPasswordHashers(fast());

test('Django known-answer vectors for lètmein / seasalt', async () => {
  const pbkdf2 = createHasher('pbkdf2_sha256', { iterations: 600_000 });
  const encoded = await pbkdf2.encode('lètmein', 'seasalt');
  assert.equal(encoded, 'pbkdf2_sha256$600000$seasalt$OAXyhAQ/4ZDA9V5RMExt3C1OwQdUpLZ99vm1McFlLRA=');
  assert.equal(await checkPassword('lètmein', encoded), true);

  assert.equal(await makePassword('lètmein', { algorithm: 'md5', salt: 'seasalt' }), 'md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3');
  assert.equal(await makePassword('lètmein', { algorithm: 'sha1', salt: 'seasalt' }), 'sha1$seasalt$cff36ea83f5706ce9aa7454e63e431fc726b2dc8');
  assert.equal(await makePassword('lètmein', { algorithm: 'unsalted_md5' }), '88a434c88cca4e900f7874cd98123f43');
  const scrypt = createHasher('scrypt');
  const scryptVector =
    'scrypt$16384$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw==';
  assert.equal(await scrypt.encode('lètmein', 'seasalt'), scryptVector);

  for (const enc of ['md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3', 'sha1$seasalt$cff36ea83f5706ce9aa7454e63e431fc726b2dc8',
    '88a434c88cca4e900f7874cd98123f43', 'md5$$88a434c88cca4e900f7874cd98123f43', scryptVector]) {
    assert.equal(await checkPassword('lètmein', enc), true, enc);
    assert.equal(await checkPassword('lètmeinz', enc), false, enc);
  }
});

test('pbkdf2_sha1 matches RFC 6070', async () => {
  const hasher = createHasher('pbkdf2_sha1') as PBKDF2PasswordHasher;
  const expected = Buffer.from('4b007901b765489abead49d926f721d065a429c1', 'hex').toString('base64');
  assert.equal(await hasher.encode('password', 'salt', 4096), `pbkdf2_sha1$4096$salt$${expected}`);
  assert.equal(await hasher.verify('password', `pbkdf2_sha1$4096$salt$${expected}`), true);
});

test('argon2: Django vectors, including old versions and other varieties', async () => {
  const cases = [
    'argon2$argon2id$v=19$m=102400,t=2,p=8$Y041dExhNkljRUUy$TMa6A8fPJhCAUXRhJXCXdw',
    // argon2i without a version field (0x10) and a 64-byte hash, from Django's test suite.
    'argon2$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$gwQOXSNhxiOxPOA0+PY10P9QFO4NAYysnqRt1GSQLE55m+2GYDt9FEjPMHhP2Cuf0nOEXXMocVrsJAtNSsKyfg',
    'argon2$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q',
  ];
  for (const enc of cases) {
    assert.equal(await checkPassword('secret', enc), true, enc);
    assert.equal(await checkPassword('wrong', enc), false, enc);
  }
  const d = createHasher('argon2', { memoryCost: 64, timeCost: 1 });
  assert.equal(await d.verify('secret', 'argon2$argon2d$v=19$m=8,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA'), false);
  assert.equal(await d.verify('secret', 'argon2$argon2x$v=19$m=8,t=1,p=1$c29tZXNhbHQ$AAAA'), false);
});

test('argon2 writes the configured format', async () => {
  const encoded = await createHasher('argon2').encode('secret', 'saltsaltsaltsaltsaltsa');
  assert.match(encoded, /^argon2\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]{43}$/);
});

test('round trip through every hasher', async () => {
  const hashers = fast();
  for (const algorithm of DEFAULT_HASHERS) {
    for (const password of ['lètmein', '', 'with\0null', '😀'.repeat(10)]) {
      const encoded = await hashers.makePassword(password, { algorithm });
      assert.equal(hashers.identifyHasher(encoded).algorithm, algorithm, encoded);
      assert.equal(await hashers.checkPassword(password, encoded), true, `${algorithm} ${encoded}`);
      assert.equal(await hashers.checkPassword(password + 'x', encoded), false, `${algorithm} ${encoded}`);
      const summary = hashers.get(algorithm).safeSummary(encoded);
      assert.equal(summary.algorithm, algorithm);
      assert.ok(Object.values(summary).every((v) => !v.includes(encoded.slice(-10))), 'summary leaks the hash');
    }
  }
});

test('bcrypt: known vector, 72-byte truncation vs bcrypt_sha256', async () => {
  assert.equal(await checkPassword('U*U', 'bcrypt$$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW'), true);
  const hashers = fast();
  const long = 'VSK0UYV6FFQVZ0KG88DYN9WADAADZO1CTSIVDJUNZSUML6IBX7LN7ZS3R5JGB3RGZ7VI7G7DJQ9NI8BQFSRPTG6UWTTVESA5ZPUN';
  const sha = await hashers.makePassword(long, { algorithm: 'bcrypt_sha256' });
  assert.match(sha, /^bcrypt_sha256\$\$2b\$04\$/);
  assert.equal(await hashers.checkPassword(long.slice(0, 72), sha), false);
  const plain = await hashers.makePassword(long, { algorithm: 'bcrypt' });
  assert.equal(await hashers.checkPassword(long.slice(0, 72), plain), true, 'plain bcrypt ignores bytes past 72, as in Django');
});

test('identifyHasher follows Django', () => {
  const cases: Array<[string, string]> = [
    ['88a434c88cca4e900f7874cd98123f43', 'unsalted_md5'],
    ['md5$$88a434c88cca4e900f7874cd98123f43', 'unsalted_md5'],
    ['sha1$$cff36ea83f5706ce9aa7454e63e431fc726b2dc8', 'unsalted_sha1'],
    ['md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3', 'md5'],
    ['pbkdf2_sha256$1$a$b', 'pbkdf2_sha256'],
    ['bcrypt_sha256$$2b$12$x', 'bcrypt_sha256'],
    ['argon2$argon2id$v=19$m=1,t=1,p=1$a$b', 'argon2'],
  ];
  for (const [encoded, algorithm] of cases) assert.equal(identifyHasher(encoded).algorithm, algorithm, encoded);
  assert.throws(() => identifyHasher('nope$1$2'), /Unknown password hashing algorithm/);
  assert.throws(() => identifyHasher(''), /Unknown/);
});

test('unusable passwords', async () => {
  const unusable = makeUnusablePassword();
  assert.match(unusable, /^![A-Za-z0-9]{40}$/);
  assert.notEqual(unusable, makeUnusablePassword());
  assert.match(await makePassword(null), /^![A-Za-z0-9]{40}$/);
  for (const v of [unusable, '!', null, undefined]) {
    assert.equal(isPasswordUsable(v), false);
    assert.equal(await checkPassword('', v), false);
  }
  assert.equal(isPasswordUsable('md5$a$b'), true);
  assert.equal(await checkPassword('x', 'nope$1$2'), false);
  assert.equal(await checkPassword('x', ''), false);
  assert.equal(await checkPassword('x', 'pbkdf2_sha256$garbage'), false);
  assert.equal(await checkPassword('x', 'argon2$garbage'), false);
});

test('generated salts carry 128 bits', async () => {
  const encoded = await makePassword('x', { algorithm: 'md5' });
  assert.match(encoded, /^md5\$[A-Za-z0-9]{22}\$[0-9a-f]{32}$/);
});

test('registry configuration errors', () => {
  assert.throws(() => new PasswordHashers([]));
  assert.throws(() => createPasswordHashers(['md5', 'md5']), /twice/);
  assert.throws(() => createHasher('rot13'), /Unknown/);
  assert.throws(() => fast().get('rot13'), /Unknown/);
  assert.throws(() => createHasher('pbkdf2_sha256', { iterations: 0 }), RangeError);
});

test('4096 characters are accepted, 4097 refused before hashing', async () => {
  const hashers = fast(['md5', 'pbkdf2_sha256']);
  const ok = 'a'.repeat(MAX_PASSWORD_LENGTH);
  const encoded = await hashers.makePassword(ok);
  assert.equal(await hashers.checkPassword(ok, encoded), true);
  await assert.rejects(hashers.makePassword(ok + 'a'), PasswordTooLongError);
  await assert.rejects(hashers.checkPassword(ok + 'a', encoded), PasswordTooLongError);
  await assert.rejects(hashers.checkPassword(ok + 'a', null), PasswordTooLongError);
  await assert.rejects(createHasher('argon2').encode(ok + 'a'), PasswordTooLongError);
});
