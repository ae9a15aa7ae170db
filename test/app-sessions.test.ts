import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestSession, SessionTooLargeError } from '../src/sessions/request-session.js';
import { PASSWORD, startServer, type TestServer } from './helpers.js';

/** Application sessions (Django's request.session), on whichever store the run selects (SQL or Redis). */
let server: TestServer;
before(async () => {
  server = await startServer();
});
after(() => server.close());

const load = (key?: string, options = {}) => RequestSession.load(server.portcullis.sessions, key, options);

async function stored(key: string) {
  const { sessions } = server.portcullis;
  return sessions.store.get(sessions.keys.storageId(key), Date.now());
}

describe('application sessions', () => {
  test('nothing exists until something is stored; reads create nothing', async () => {
    const s = await load(undefined);
    assert.equal(s.get('cart'), undefined);
    assert.equal(s.accessed, true);
    assert.equal(await s.commit(), null);
    assert.equal(s.current, null);
  });

  test('a write creates the session and its cookie; the next request reads it back', async () => {
    const s = await load(undefined);
    s.set('visits', 1);
    const cookie = await s.commit();
    assert.equal(cookie?.action, 'set');
    const key = cookie!.action === 'set' ? cookie!.key : '';
    assert.equal(cookie!.action === 'set' && cookie!.maxAge, server.portcullis.config.sessionAge);
    const next = await load(key);
    assert.equal(next.get('visits'), 1);
    assert.equal(await next.commit(), null, 'a request that only reads sends no cookie');
    assert.equal((await stored(key))?.userId, null);
  });

  test('an emptied anonymous session deletes its row and its cookie', async () => {
    const s = await load(undefined);
    s.set('lang', 'zh-CN');
    const created = await s.commit();
    const key = created!.action === 'set' ? created!.key : '';
    const again = await load(key);
    again.delete('lang');
    assert.deepEqual(await again.commit(), { action: 'clear' });
    assert.equal(await stored(key), null);
  });

  test('a value past the size limit is refused whole; nothing is truncated', async () => {
    const s = await load(undefined, { maxBytes: 1024 });
    s.set('small', 'x');
    assert.throws(() => s.set('big', 'y'.repeat(2000)), SessionTooLargeError);
    assert.equal(s.get('big'), undefined);
    assert.equal(s.get('small'), 'x');
    assert.throws(() => s.set('fn', () => 1), TypeError);
  });

  test('setExpiry: seconds, 0 for a browser-session cookie, a date, null for the default', async () => {
    const s = await load(undefined);
    s.set('a', 1);
    s.setExpiry(0);
    const c0 = await s.commit();
    assert.equal(c0!.action === 'set' && c0!.maxAge, null);
    const key = c0!.action === 'set' ? c0!.key : '';
    assert.equal((await stored(key))?.persistent, false);
    const later = await load(key);
    later.setExpiry(60);
    const c60 = await later.commit();
    assert.equal(c60!.action === 'set' && c60!.maxAge, 60);
    const rec = await stored(key);
    assert.ok(rec && rec.persistent && rec.expiresAt - Date.now() <= 60_000 && rec.expiresAt - Date.now() > 50_000);
    const dated = await load(key);
    dated.setExpiry(new Date(Date.now() + 3600_000));
    const cDate = await dated.commit();
    assert.ok(cDate!.action === 'set' && cDate!.maxAge! > 3500 && cDate!.maxAge! <= 3600);
    const reset = await load(key);
    reset.setExpiry(null);
    const cNull = await reset.commit();
    assert.equal(cNull!.action === 'set' && cNull!.maxAge, server.portcullis.config.sessionAge);
    assert.throws(() => reset.setExpiry(-5), RangeError);
  });

  test('cycleKey keeps the data under a new key; the old key dies', async () => {
    const s = await load(undefined);
    s.set('cart', ['apple']);
    const first = await s.commit();
    const oldKey = first!.action === 'set' ? first!.key : '';
    const again = await load(oldKey);
    again.cycleKey();
    const cycled = await again.commit();
    const newKey = cycled!.action === 'set' ? cycled!.key : '';
    assert.notEqual(newKey, oldKey);
    assert.equal(await stored(oldKey), null);
    assert.deepEqual((await load(newKey)).get('cart'), ['apple']);
  });

  test('concurrent requests changing different keys keep both writes (per-key merge)', async () => {
    const s = await load(undefined);
    s.set('seed', true);
    const created = await s.commit();
    const key = created!.action === 'set' ? created!.key : '';
    const [one, two] = await Promise.all([load(key), load(key)]);
    one.set('left', 1);
    two.set('right', 2);
    two.delete('seed');
    await Promise.all([one.commit(), two.commit()]);
    const merged = await load(key);
    assert.equal(merged.get('left'), 1);
    assert.equal(merged.get('right'), 2);
    assert.equal(merged.has('seed'), false);
    // Many writers at once, each its own key: none is lost.
    const writers = await Promise.all(Array.from({ length: 20 }, () => load(key)));
    writers.forEach((w, i) => w.set(`k${i}`, i));
    await Promise.all(writers.map((w) => w.commit()));
    const all = await load(key);
    for (let i = 0; i < 20; i++) assert.equal(all.get(`k${i}`), i);
  });

  test('login keeps a guest\'s data under a new key; another user\'s session is flushed; logout flushes', async () => {
    const p = server.portcullis;
    const guest = await load(undefined);
    guest.set('cart', ['book']);
    const c = await guest.commit();
    const guestKey = c!.action === 'set' ? c!.key : '';
    const shopper = await p.users.createUser({ username: 'shopper', password: PASSWORD });
    const found = await p.authenticate({ username: 'shopper', password: PASSWORD });
    const issued = await p.login(found!.user, found!.backend, { previous: await p.sessions.load(guestKey) });
    assert.notEqual(issued.key, guestKey);
    assert.equal(await stored(guestKey), null, 'fixation-proof: the guest key is dead');
    assert.deepEqual(issued.record.data.cart, ['book']);
    assert.equal(issued.record.userId, shopper.id);

    const other = await p.users.createUser({ username: 'other-shopper', password: PASSWORD });
    const third = await p.login(other, 'model', { previous: issued.record });
    assert.deepEqual(third.record.data, {}, 'a session of another user is flushed, as Django does');

    await p.logout(third.record, other);
    assert.equal(await stored(third.key), null);
  });

  test('saveEveryRequest sends the cookie even when nothing changed', async () => {
    const s = await load(undefined);
    s.set('x', 1);
    const c = await s.commit();
    const key = c!.action === 'set' ? c!.key : '';
    const again = await load(key, { saveEveryRequest: true });
    again.get('x');
    const resent = await again.commit();
    assert.equal(resent!.action === 'set' && resent!.key, key);
  });
});
