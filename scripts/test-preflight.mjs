#!/usr/bin/env node
// npm test's first step: everything the suites need from the machine, checked in a second or two, so a
// machine without PostgreSQL, Redis or Chromium hears it now, in one line each, rather than after
// minutes of build and SQLite tests. Missing means failing, with CI set or not: nothing is skipped.
//
//   node scripts/test-preflight.mjs [postgres redis redis-server chromium django]   (default: all)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';

const pgUrl = process.env.PORTCULLIS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.PORTCULLIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Resolves to null when something accepts a connection at the URL's host and port, else to why not. */
function answers(url, defaultPort) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || defaultPort) });
    const done = (reason) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(2000, () => done('no answer in 2 s'));
    socket.once('connect', () => done(null));
    socket.once('error', (err) => done(err.code ?? err.message));
  });
}

const onPath = (command) => (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, command)));
const redacted = (url) => url.replace(/\/\/[^@/]*@/, '//…@');

const checks = {
  postgres: async () => {
    const why = await answers(pgUrl, 5432);
    return why && `PostgreSQL does not answer at ${redacted(pgUrl)} (${why}): apt-get install postgresql, or set PORTCULLIS_TEST_PG_URL to one that does`;
  },
  redis: async () => {
    const why = await answers(redisUrl, 6379);
    return why && `Redis does not answer at ${redacted(redisUrl)} (${why}): apt-get install redis-server, or set PORTCULLIS_TEST_REDIS_URL to one that does`;
  },
  'redis-server': async () =>
    !(onPath('redis-server') && onPath('redis-cli')) && 'redis-server and redis-cli are not on PATH (the cluster and fault tests start their own): apt-get install redis-server redis-tools',
  chromium: async () => !existsSync(chromium) && `${chromium} is missing (the browser tests drive it): apt-get install chromium, or set CHROMIUM_PATH`,
  django: async () => {
    const check = spawnSync('/usr/bin/python3', ['-c', 'import django, argon2, bcrypt'], { stdio: 'ignore', timeout: 10_000 });
    return check.status !== 0 && 'Django is missing from /usr/bin/python3 (the migration tests run real Django): apt-get install python3-django python3-argon2 python3-bcrypt';
  },
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in checks));
if (unknown.length) {
  console.error(`test-preflight: unknown check ${unknown.join(', ')}; known: ${Object.keys(checks).join(', ')}`);
  process.exit(2);
}
const problems = (await Promise.all((wanted.length ? wanted : Object.keys(checks)).map((name) => checks[name]()))).filter(Boolean);
for (const problem of problems) console.error(`npm test cannot run: ${problem}`);
process.exit(problems.length ? 1 : 0);
