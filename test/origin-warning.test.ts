import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createPortcullis } from '../src/portcullis.js';
import { buildServer } from '../src/http/server.js';
import { Client, json, PASSWORD, startServer, type ErrorBody, type TestServer } from './helpers.js';

/**
 * The cookie doctor at runtime: a login from an origin whose browser will lose the session cookie
 * is answered as usual, with the reason and the fix in a Portcullis-Warning header (outside
 * production) and in the server log.
 */
describe('Portcullis-Warning on login', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ trustedOrigins: ['http://localhost:5173'] });
    await server.portcullis.users.createUser({ username: 'ada', password: PASSWORD });
  });
  after(() => server.close());

  const login = (origin: string) => new Client(server.url, { origin }).post('/api/auth/login', { username: 'ada', password: PASSWORD });

  test('none for a login from the server\'s own origin', async () => {
    const res = await login(server.origin);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('portcullis-warning'), null);
  });

  test('localhost page against a 127.0.0.1 API: the login succeeds, the header says why it will not last and what to change', async () => {
    const res = await login('http://localhost:5173');
    assert.equal(res.status, 200);
    const warning = res.headers.get('portcullis-warning');
    assert.ok(warning);
    assert.match(warning, /localhost is not 127\.0\.0\.1/);
    assert.match(warning, /Fix: Use the same host name on both sides/);
    assert.match(warning, /^[\x20-\x7e]+$/, 'one line of ASCII');
    // The trusted frontend may read it from script.
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /Portcullis-Warning/i);
  });

  test('an origin missing from the trusted list: refused as csrf_failed, and the header names the setting', async () => {
    const res = await login('http://127.0.0.1:5173');
    assert.equal(res.status, 403);
    assert.equal((await json<ErrorBody>(res)).error.code, 'csrf_failed');
    assert.match(res.headers.get('portcullis-warning') ?? '', /PORTCULLIS_TRUSTED_ORIGINS=http:\/\/localhost:5173,http:\/\/127\.0\.0\.1:5173/);
  });

  test('only the login route is diagnosed', async () => {
    const res = await new Client(server.url, { origin: 'http://localhost:5173' }).post('/api/auth/register', { username: 'bob', password: PASSWORD });
    assert.equal(res.headers.get('portcullis-warning'), null);
  });
});

describe('Portcullis-Warning in production', () => {
  test('no header, but a warning line in the server log (and no password in it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-warning-'));
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const portcullis = await createPortcullis({
      databaseUrl: `sqlite:${join(dir, 'db.sqlite3')}`,
      dataDir: dir,
      cwd: dir,
      env: {},
      secretKey: 'warning-test-secret-key-0123456789abcdef',
      production: true,
      trustedOrigins: ['http://localhost:5173'],
    });
    const app = await buildServer(portcullis, { logger: { level: 'warn', stream } });
    try {
      await portcullis.users.createUser({ username: 'ada', password: PASSWORD });
      const res = await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        headers: { origin: 'http://localhost:5173', host: '127.0.0.1:8000', 'content-type': 'application/json' },
        payload: { username: 'ada', password: PASSWORD },
      });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['portcullis-warning'], undefined);
      const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => /login from http:\/\/localhost:5173/.test(l.msg));
      assert.ok(warning, `no warning among ${lines.length} log lines`);
      assert.equal(warning.level, 40);
      assert.match(warning.msg, /localhost is not 127\.0\.0\.1/);
      assert.ok(!lines.some((l) => l.includes(PASSWORD)));
    } finally {
      await app.close();
      await portcullis.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
