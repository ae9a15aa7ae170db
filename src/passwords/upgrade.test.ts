import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHasher, createPasswordHashers, Limiter, PasswordHashers, type PasswordHasher } from './index.js';

const argon2 = (memoryCost: number) => createHasher('argon2', { memoryCost, timeCost: 1, parallelism: 1 });

/** Wraps a hasher to record which of its methods ran. */
function spy(inner: PasswordHasher): PasswordHasher & { hardened: number } {
  const s = Object.create(inner) as PasswordHasher & { hardened: number };
  s.hardened = 0;
  s.hardenRuntime = async (p, e) => {
    s.hardened++;
    await inner.hardenRuntime(p, e);
  };
  return s;
}

test('setter runs for an old algorithm, changed cost, and never when up to date', async () => {
  const current = createPasswordHashers([argon2(256), createHasher('pbkdf2_sha256', { iterations: 1000 }), 'md5']);
  const calls: string[] = [];
  const setter = (p: string) => void calls.push(p);

  const md5 = await current.makePassword('pw', { algorithm: 'md5' });
  assert.equal(await current.checkPassword('pw', md5, setter), true);
  assert.deepEqual(calls, ['pw']);

  const cheaper = await argon2(128).encode('pw');
  assert.equal(await current.checkPassword('pw', cheaper, setter), true);
  assert.equal(calls.length, 2);

  const upToDate = await current.makePassword('pw');
  assert.equal(await current.checkPassword('pw', upToDate, setter), true);
  assert.equal(await current.checkPassword('wrong', md5, setter), false);
  assert.equal(calls.length, 2);
});

test('a salt shorter than 128 bits also asks for an upgrade', async () => {
  const hashers = createPasswordHashers([createHasher('pbkdf2_sha256', { iterations: 1000 })]);
  const shortSalt = await hashers.makePassword('pw', { salt: 'seasalt' });
  let upgraded = false;
  assert.equal(await hashers.checkPassword('pw', shortSalt, () => void (upgraded = true)), true);
  assert.equal(upgraded, true);
});

test('hardenRuntime runs only for a wrong password against a cheaper hash of the preferred algorithm', async () => {
  const preferred = spy(createHasher('pbkdf2_sha256', { iterations: 2000 }));
  const hashers = new PasswordHashers([preferred, createHasher('md5')]);
  const cheaper = await createHasher('pbkdf2_sha256', { iterations: 1000 }).encode('pw');
  assert.equal(await hashers.checkPassword('wrong', cheaper), false);
  assert.equal(preferred.hardened, 1);
  assert.equal(await hashers.checkPassword('pw', cheaper), true);
  assert.equal(await hashers.checkPassword('wrong', await hashers.makePassword('pw')), false);
  assert.equal(await hashers.checkPassword('wrong', await hashers.makePassword('pw', { algorithm: 'md5' })), false);
  assert.equal(preferred.hardened, 1);
});

test('pbkdf2 and bcrypt hardenRuntime do the missing work', async () => {
  const pbkdf2 = createHasher('pbkdf2_sha256', { iterations: 3000 });
  await pbkdf2.hardenRuntime('pw', await createHasher('pbkdf2_sha256', { iterations: 1000 }).encode('pw'));
  const bcrypt = createHasher('bcrypt_sha256', { rounds: 5 });
  const old = await createHasher('bcrypt_sha256', { rounds: 4 }).encode('pw');
  assert.equal(bcrypt.mustUpdate(old), true);
  await bcrypt.hardenRuntime('pw', old);
});

test('mustUpdate and safeSummary per hasher', async () => {
  const a = argon2(256);
  const enc = await a.encode('pw');
  assert.equal(a.mustUpdate(enc), false);
  assert.equal(argon2(512).mustUpdate(enc), true);
  assert.equal(createHasher('argon2', { memoryCost: 256, timeCost: 1, hashLength: 16 }).mustUpdate(enc), true);
  const summary = a.safeSummary(enc);
  assert.equal(summary['memory cost'], '256');
  assert.match(summary.hash!, /^.{6}\*+$/);
  const scrypt = createHasher('scrypt', { workFactor: 1024 });
  const senc = await scrypt.encode('pw');
  assert.equal(scrypt.mustUpdate(senc), false);
  assert.equal(createHasher('scrypt').mustUpdate(senc), true);
  assert.deepEqual(Object.keys(createHasher('md5').safeSummary('md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3')), ['algorithm', 'salt', 'hash']);
  assert.equal(createHasher('md5').safeSummary('md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3').salt, 'se*****');
});

test('the limiter never exceeds maxConcurrent and serves FIFO', async () => {
  let inFlight = 0;
  let peak = 0;
  const order: number[] = [];
  const slow: PasswordHasher = {
    algorithm: 'slow',
    async encode(password) {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      order.push(Number(password));
      return `slow$${password}`;
    },
    async verify(password, encoded) {
      return encoded === (await this.encode(password));
    },
    mustUpdate: () => false,
    hardenRuntime: async () => {},
    safeSummary: () => ({ algorithm: 'slow' }),
  };
  const hashers = new PasswordHashers([slow], { maxConcurrent: 3 });
  const jobs = Array.from({ length: 12 }, (_, i) => hashers.makePassword(String(i)));
  assert.equal(hashers.limiter.active, 3);
  assert.equal(hashers.limiter.pending, 9);
  await Promise.all([...jobs, hashers.checkPassword('1', 'slow$1')]);
  assert.equal(peak, 3);
  assert.deepEqual(order.slice(0, 3).sort(), ['0', '1', '2'].map(Number));
  assert.equal(hashers.limiter.active, 0);
  assert.throws(() => new Limiter(0), RangeError);
});

test('a failing task releases its slot', async () => {
  const limiter = new Limiter(1);
  await assert.rejects(limiter.run(async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await limiter.run(async () => 42), 42);
});

test('the event loop keeps turning while argon2 hashes run', async () => {
  const hashers = createPasswordHashers([createHasher('argon2', { memoryCost: 8192, timeCost: 3 })], { maxConcurrent: 2 });
  let ticks = 0;
  let running = true;
  const tick = () => {
    ticks++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const before = ticks;
  await Promise.all(Array.from({ length: 4 }, (_, i) => hashers.makePassword(`pw${i}`)));
  running = false;
  assert.ok(ticks > before + 1, `event loop ticked ${ticks - before} times`);
});
