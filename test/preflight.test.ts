import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** npm test's first step (scripts/test-preflight.mjs), on a machine where nothing answers. */
function preflight(args: string[], env: Record<string, string>) {
  const started = Date.now();
  const run = spawnSync(process.execPath, ['scripts/test-preflight.mjs', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { ...run, seconds: (Date.now() - started) / 1000 };
}

const NOTHING_RUNS = {
  PORTCULLIS_TEST_PG_URL: 'postgres://postgres:hunter2@127.0.0.1:1/postgres',
  PORTCULLIS_TEST_REDIS_URL: 'redis://127.0.0.1:2',
  CHROMIUM_PATH: '/nonexistent/chromium',
};

test('nothing answers: one line per missing thing naming what to install, exit 1, in seconds', () => {
  for (const CI of ['', 'true']) {
    const run = preflight(['postgres', 'redis', 'chromium'], { ...NOTHING_RUNS, CI });
    assert.equal(run.status, 1, `CI=${CI}: a missing server fails, never skips`);
    assert.ok(run.seconds < 5, `took ${run.seconds} s`);
    assert.equal(run.stdout, '');
    const lines = run.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 3, run.stderr);
    assert.match(lines[0]!, /^npm test cannot run: PostgreSQL does not answer at postgres:\/\/…@127\.0\.0\.1:1\/postgres \(ECONNREFUSED\): apt-get install postgresql, or set PORTCULLIS_TEST_PG_URL/);
    assert.match(lines[1]!, /^npm test cannot run: Redis does not answer at redis:\/\/127\.0\.0\.1:2 \(ECONNREFUSED\): apt-get install redis-server/);
    assert.match(lines[2]!, /^npm test cannot run: \/nonexistent\/chromium is missing .*apt-get install chromium/);
    assert.doesNotMatch(run.stderr, /hunter2/, 'the password in the URL is never printed');
  }
});

test('what is there passes: exit 0, silent', () => {
  const run = preflight(['chromium'], { CHROMIUM_PATH: process.execPath });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '');
});

test('a misspelt check name is refused', () => {
  const run = preflight(['postgress'], {});
  assert.equal(run.status, 2);
  assert.match(run.stderr, /unknown check postgress; known: postgres, redis, redis-server, chromium, django/);
});
