import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createPortcullis } from '../src/portcullis.js';

const CLI = resolve('dist/cli/main.js');
let dir: string;

function run(args: string[], env: Record<string, string> = {}, input?: string) {
  return spawnSync(process.execPath, [CLI, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...env },
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('portcullis command line', () => {
  test('migrate creates ./data with a private secret key and the schema', () => {
    const res = run(['migrate']);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /0001_initial/);
    assert.equal(statSync(join(dir, 'data', 'secret_key')).mode & 0o777, 0o600);
    const again = run(['migrate']);
    assert.match(again.stdout, /No migrations to apply/);
  });

  test('createsuperuser --noinput takes the password from the environment', async () => {
    const res = run(['createsuperuser', '--username', 'root', '--email', 'root@Example.com', '--noinput'], {
      PORTCULLIS_SUPERUSER_PASSWORD: 'a sturdy admin passphrase',
    });
    assert.equal(res.status, 0, res.stderr);
    const p = await createPortcullis({ cwd: dir, env: {}, dataDir: join(dir, 'data') });
    try {
      const user = await p.users.getByUsername('root');
      assert.ok(user?.is_superuser && user.is_staff);
      assert.equal(user.email, 'root@example.com');
      assert.ok(await p.authenticate({ username: 'root', password: 'a sturdy admin passphrase' }));
    } finally {
      await p.close();
    }
    const dup = run(['createsuperuser', '--username', 'root', '--noinput'], { PORTCULLIS_SUPERUSER_PASSWORD: 'a sturdy admin passphrase' });
    assert.equal(dup.status, 1);
    assert.match(dup.stderr, /already exists/);
    const weak = run(['createsuperuser', '--username', 'root2', '--noinput'], { PORTCULLIS_SUPERUSER_PASSWORD: '123' });
    assert.equal(weak.status, 1);
    assert.match(weak.stderr, /password/i);
  });

  test('changepassword reads the new password and ends the user\'s sessions', async () => {
    const res = run(['changepassword', 'root'], {}, 'another sturdy passphrase\n');
    assert.equal(res.status, 0, res.stderr);
    const p = await createPortcullis({ cwd: dir, env: {}, dataDir: join(dir, 'data') });
    try {
      assert.ok(await p.authenticate({ username: 'root', password: 'another sturdy passphrase' }));
      assert.equal(await p.authenticate({ username: 'root', password: 'a sturdy admin passphrase' }), null);
    } finally {
      await p.close();
    }
    assert.equal(run(['changepassword', 'nobody'], {}, 'x\n').status, 1);
  });

  test('clearsessions deletes expired sessions only', async () => {
    const p = await createPortcullis({ cwd: dir, env: {}, dataDir: join(dir, 'data') });
    try {
      const user = (await p.users.getByUsername('root'))!;
      await p.sessions.create({ userId: user.id, backend: 'model', authHash: 'x', persistent: true }, Date.now() - 10 * 365 * 86400_000);
      await p.sessions.create({ userId: user.id, backend: 'model', authHash: 'x', persistent: true });
    } finally {
      await p.close();
    }
    const res = run(['clearsessions']);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /Deleted 1 expired session/);
  });

  test('check --origin explains localhost versus 127.0.0.1', () => {
    const bad = run(['check', '--origin', 'http://127.0.0.1:5173']);
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /localhost is not 127\.0\.0\.1/);
    assert.match(bad.stdout, /Fix:/);
    const good = run(['check', '--origin', 'http://localhost:5173'], { PORTCULLIS_TRUSTED_ORIGINS: 'http://localhost:5173' });
    assert.equal(good.status, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /OK/);
  });

  test('a setting that cannot work stops with one clear line', () => {
    const res = run(['serve'], { PORTCULLIS_SAMESITE: 'None' });
    assert.equal(res.status, 1);
    assert.match(res.stderr, /^portcullis: SameSite=None .*PORTCULLIS_SECURE_COOKIES=1/);
    assert.equal(res.stderr.trim().split('\n').length, 1);
    const url = run(['serve'], { PORTCULLIS_DATABASE_URL: 'mongodb://x' });
    assert.equal(url.status, 1);
    assert.match(url.stderr, /scheme/);
  });
});
